"""``colorlab pack``: decode a Places365-layout folder once into one .npz file (:func:`colorlab.packed.pack_corpus`)."""

import os


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pack", help="decode a Places365-layout folder once into one .npz file for fast training",
        description="Decode every photo of ROOT (a Places365-layout folder, e.g. the corpus) once and write them, "
                    "with labels, paths and class names, into one uncompressed .npz file that `colorlab train "
                    "--data OUT` reads from memory (the same batches as from the folder). Written atomically; an "
                    "existing OUT is replaced only with --overwrite.")
    parser.add_argument("root", metavar="ROOT", help="a Places365-layout folder")
    parser.add_argument("out", metavar="OUT", help="the .npz file to write")
    parser.add_argument("--splits", nargs="+", default=["train", "val"], metavar="SPLIT",
                        help="splits to pack (default: train val)")
    parser.add_argument("--size", type=int, default=None, metavar="S",
                        help="bring every photo to S x S (needed when the photos differ in size)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, metavar="T",
                        help="photos decoded at a time (default: the number of CPU cores)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.set_defaults(func=run)


def run(args) -> int:
    from colorlab.packed import PackedCorpus, pack_corpus   # NumPy + Pillow (Keras lazily)

    out = pack_corpus(args.root, args.out, splits=args.splits, size=args.size, overwrite=args.overwrite,
                      threads=args.threads)
    corpus = PackedCorpus(out)
    counts = ", ".join(f"{s} {len(corpus.labels(s))}" for s in corpus.splits)
    print(f"packed {counts} photos of {corpus.size}x{corpus.size} into {out} "
          f"({out.stat().st_size / 2 ** 20:.1f} MiB)")
    return 0
