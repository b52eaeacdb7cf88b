"""The command line: ``colorlab COMMAND …`` or ``python -m colorlab COMMAND …``.

One module per command (``colorlab/cli/<command>.py``), each with ``add_parser(subparsers)`` and
``run(args) -> int``; argparse and printing live here, the work is done by the library. Building the parser imports
neither TensorFlow, Keras, JAX, PyAV nor OpenCV: a command imports what it needs when it runs.

Every failure caused by the user's input prints one line to stderr and exits with status 2;
no traceback is shown for a ColorlabError. An operating-system error (a full disk, a permission, a read-only file
system) is one line too, naming the file, with status 2.
"""

import argparse
import os
import sys

from colorlab import __version__
from colorlab.cli import colorize, convert_official, course, info, pack, places365_subset, train, video
from colorlab.cli import eval as eval_command   # the module is named after its command; `eval` would hide the builtin
from colorlab.errors import ColorlabError

__all__ = ["main", "build_parser", "COMMANDS"]

#: The commands, in the order ``colorlab --help`` lists them.
COMMANDS = (info, places365_subset, colorize, train, pack, eval_command, video, convert_official, course)


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``colorlab`` parser with every command of :data:`COMMANDS`; each sets ``func`` to its ``run``."""
    parser = _OneLineParser(
        prog="colorlab",
        description="Exemplar-based colorization (Gray2ColorNet), built chapter by chapter.",
    )
    parser.add_argument("--version", action="version", version=f"colorlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Runs ``colorlab`` with ``argv`` (default: ``sys.argv[1:]``) and returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except ColorlabError as error:
        print(f"colorlab: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permissions, ...: still one line naming the file, never a traceback
        files = " -> ".join(repr(os.fsdecode(name) if isinstance(name, (str, bytes, os.PathLike)) else str(name))
                            for name in (error.filename, error.filename2) if name is not None)
        print(f"colorlab: error: {files + ': ' if files else ''}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # `train` and `video` catch it themselves to say what was kept
        print("colorlab: interrupted", file=sys.stderr)
        return 130
