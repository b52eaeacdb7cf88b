"""``python -m colorlab …``: the command line of :mod:`colorlab.cli`."""

import sys

from colorlab.cli import main

sys.exit(main())
