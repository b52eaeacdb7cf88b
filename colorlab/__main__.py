"""Command line interface: ``colorlab …`` or ``python -m colorlab …``.

Every failure caused by the user's input prints one line to stderr and exits with status 2;
no traceback is shown for a ColorlabError.
"""

import argparse
import sys

from colorlab import __version__
from colorlab.errors import ColorlabError


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="colorlab",
        description="Exemplar-based colorization (Gray2ColorNet), built chapter by chapter.",
    )
    parser.add_argument("--version", action="version", version=f"colorlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="show versions, the Keras backend and the bundled sample photos")
    info.set_defaults(func=_cmd_info)
    return parser


def _cmd_info(args) -> int:
    import keras

    from colorlab.io import sample_paths

    print(f"colorlab {__version__}")
    print(f"keras {keras.__version__} (backend: {keras.backend.backend()})")
    paths = sample_paths()
    print(f"{len(paths)} sample photos in {paths[0].parent if paths else 'data/samples'}")
    return 0


def main(argv=None) -> int:
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
    except OSError as error:  # disk full, permissions, ...: still one line, never a traceback
        print(f"colorlab: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
