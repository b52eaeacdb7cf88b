"""``colorlab places365-subset``: stream a Places365 archive and keep a small subset
(:func:`colorlab.places365.build_subset`)."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "places365-subset", help="stream a Places365 archive and keep a small subset (resumable)",
        description="Stream an official Places365 small-images tar (train_256_places365standard.tar or "
                    "val_256.tar) and keep the first K images of the chosen classes, resized, in Places365's "
                    "layout. Rerun the same command after an interruption to resume.")
    parser.add_argument("source", metavar="URL", help="http(s) URL or local path of the tar archive")
    parser.add_argument("--out", required=True, help="output folder (Places365 layout)")
    parser.add_argument("--classes", default=None, help="comma-separated categories, e.g. airfield,beach "
                                                        "(default: all)")
    parser.add_argument("--per-class", type=int, default=100, metavar="K", help="images per class (default 100)")
    parser.add_argument("--size", type=int, default=128, metavar="S", help="output side in pixels (default 128)")
    parser.add_argument("--split", choices=("train", "val"), default="train")
    parser.add_argument("--filelist", default=None,
                        help="filelist_places365-standard.tar (URL or path) or its folder: category names, val labels")
    parser.add_argument("--retries", type=int, default=3, help="reopen a broken stream this often (default 3)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from colorlab.places365 import build_subset   # stdlib + Pillow

    result = build_subset(args.source, args.out, classes=args.classes, per_class=args.per_class, size=args.size,
                          split=args.split, filelist=args.filelist, retries=args.retries)
    skipped = ", ".join(f"{count} {reason}" for reason, count in result.skipped.items()) or "none"
    print(f"{result.images} images in {len(result.counts)} classes written to {result.root} "
          f"(split {result.split}; skipped: {skipped})")
    return 0
