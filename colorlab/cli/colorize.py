"""``colorlab colorize``: colour photos from a colour reference (:func:`colorlab.inference.colorize_files`)."""

from colorlab.cli.common import adapt_options, add_model_arguments, one_line_warnings


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "colorize", help="colour gray photos from a colour reference (Gray2ColorNet, full resolution)",
        description="Colour TARGET photos with the colours of a reference photo. One target: -o is the output "
                    "file. Several targets: -o is a folder (created if missing) that gets <target name>.png each. "
                    "Nothing is overwritten without --overwrite (and never an input); files are written atomically. "
                    "Inputs, outputs and the work budget are checked before the model loads.")
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="gray (or colour: only its L* is used) photo")
    parser.add_argument("--reference", "-r", required=True, metavar="REF", help="the colour reference photo")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="output file, or folder for several")
    add_model_arguments(parser, min_match=True)
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(func=run)


def run(args) -> int:
    from colorlab.inference import colorize_files   # NumPy + Pillow (Keras lazily)

    with one_line_warnings():
        colorize_files(args.targets, args.reference, args.output, weights=args.weights, strength=args.strength,
                       overwrite=args.overwrite, adapt=args.adapt, adapt_options=adapt_options(args))
    return 0
