"""``colorlab convert-official``: the authors' trained PyTorch generator as a colorlab generator
(:func:`colorlab.models.convert_official_checkpoint`; PyTorch is not needed, and no code in the file is run)."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-official", help="convert the authors' trained Gray2ColorNet (latest_net_G.pth) for colorlab",
        description="Read the official Gray2ColorNet generator (the PyTorch file latest_net_G.pth linked from the "
                    "README of github.com/CV-xueba/Gray2ColorNet) without PyTorch and without running code from "
                    "it, and write OUT.weights.h5 with OUT.json beside it (the official config), which `colorlab "
                    "colorize`, `video` and `eval` take with --weights. Nothing is overwritten without "
                    "--overwrite; files are written atomically.")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="the official generator, latest_net_G.pth")
    parser.add_argument("--output", "-o", required=True, metavar="OUT",
                        help="the weights file to write; must end with .weights.h5")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT and its .json if they exist")
    parser.set_defaults(func=run)


def run(args) -> int:
    from colorlab.models import convert_official_checkpoint   # Keras, when the command runs

    weights, config = convert_official_checkpoint(args.checkpoint, args.output, overwrite=args.overwrite)
    print(f"wrote {weights} and {config} (config 'official'); colour with: colorlab colorize TARGET -r REF "
          f"-o OUT.png --weights {weights}")
    return 0
