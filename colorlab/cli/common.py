"""Options that several commands share."""


def add_model_arguments(parser, *, strength: bool = True) -> None:
    """Adds the options every model-running command shares (``colorize``, ``video``, ``eval``) to an argparse
    parser: ``--weights/-w W`` (default: the demo weights) and, with ``strength``, ``--strength/-s S``."""
    parser.add_argument("--weights", "-w", metavar="W", default=None,
                        help="a .weights.h5 file (with its .json config beside it); default: the demo weights")
    if strength:
        parser.add_argument("--strength", "-s", type=float, default=1.0, metavar="S",
                            help="colour strength: 0 = gray, 1 = the model's colours (default 1)")
