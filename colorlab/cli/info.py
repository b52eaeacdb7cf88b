"""``colorlab info``: versions, the Keras backend and the bundled sample photos."""

from colorlab import __version__


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="show versions, the Keras backend and the bundled sample photos")
    parser.set_defaults(func=run)


def run(args) -> int:
    import keras

    from colorlab.io import sample_paths

    print(f"colorlab {__version__}")
    print(f"keras {keras.__version__} (backend: {keras.backend.backend()})")
    paths = sample_paths()
    print(f"{len(paths)} sample photos in {paths[0].parent if paths else 'data/samples'}")
    return 0
