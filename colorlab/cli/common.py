"""Options and output that several commands share."""

import contextlib
import sys
import warnings


def add_model_arguments(parser, *, strength: bool = True) -> None:
    """Adds the options every model-running command shares (``colorize``, ``video``, ``eval``) to an argparse
    parser: ``--weights/-w W`` (default: the demo weights), ``--adapt N`` and, with ``strength``,
    ``--strength/-s S``."""
    parser.add_argument("--weights", "-w", metavar="W", default=None,
                        help="a .weights.h5 file (with its .json config beside it); default: the demo weights")
    parser.add_argument("--adapt", type=int, default=0, metavar="N",
                        help="first fine-tune a copy of the model for N steps on pairs cut from the reference alone, "
                             "once per reference (reference-adaptive colorization, colorlab.adapt; the weights "
                             "file is never changed); 0 = off (default)")
    if strength:
        parser.add_argument("--strength", "-s", type=float, default=1.0, metavar="S",
                            help="colour strength: 0 = gray, 1 = the model's colours (default 1)")


@contextlib.contextmanager
def one_line_warnings():
    """Within the block, each warning the library issues (working sizes reduced to the work budget, ...) is
    printed as one line on stderr, ``colorlab: warning: MESSAGE``, without Python's source-line echo."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"colorlab: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
