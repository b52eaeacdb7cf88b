"""Options and output that several commands share."""

import contextlib
import sys
import warnings


def add_model_arguments(parser, *, strength: bool = True, min_match: bool = False) -> None:
    """Adds the options every model-running command shares (``colorize``, ``video``, ``eval``) to an argparse
    parser: ``--weights/-w W`` (default: the demo weights), ``--adapt N``, with ``min_match``
    ``--adapt-min-match M`` (commands that know each target: :func:`adapt_options` reads it) and, with
    ``strength``, ``--strength/-s S``."""
    parser.add_argument("--weights", "-w", metavar="W", default=None,
                        help="a .weights.h5 file (with its .json config beside it); default: the demo weights")
    parser.add_argument("--adapt", type=int, default=None, metavar="N",
                        help="first fine-tune a copy of the model for N steps on pairs cut from the reference alone, "
                             "once per reference (reference-adaptive colorization, colorlab.adapt; the weights "
                             "file is never changed); 0 = off; default: what the weights' .json recommends (the "
                             "demo weights: 10 steps, for a photo only when the reference matches it; others: off)")
    if min_match:
        parser.add_argument("--adapt-min-match", type=float, default=None, metavar="M",
                            help="adapt only when the reference matches the target at least this well (mean best "
                                 "cosine of the model's correspondence, in [-1, 1]; -1 = always; for the demo "
                                 "weights 0.44 keeps adapting from hurting a reference that shows another scene; "
                                 "docs/adapt_study.md); default: the weights' recommendation without --adapt, "
                                 "always with it")
    if strength:
        parser.add_argument("--strength", "-s", type=float, default=1.0, metavar="S",
                            help="colour strength: 0 = gray, 1 = the model's colours (default 1)")


def adapt_options(args) -> dict | None:
    """The ``adapt_options`` of :class:`colorlab.inference.Colorizer` that the parsed ``args`` ask for."""
    value = getattr(args, "adapt_min_match", None)
    return None if value is None else {"min_match": value}


@contextlib.contextmanager
def one_line_warnings():
    """Within the block, each warning the library issues (working sizes reduced to the work budget, ...) is
    printed as one line on stderr, ``colorlab: warning: MESSAGE``, without Python's source-line echo."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"colorlab: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
