"""Draws the README's before/after picture (``docs/before_after.jpg``) from the dev set.

The first ``--rows`` pairs of the "same scene, other view" protocol (:func:`colorlab.evaluate.dev_pairs` on the val
split of the corpus, never trained on), one row each: gray input | reference | gray | global mean ab | Welsh 2002 |
Gray2ColorNet (``--weights``, default: the demo weights) as trained (``adapt=0``) | the same as ``colorize`` runs
it by default, adapted to each reference first when the weights recommend it (or for ``--adapt N`` steps) | ground
truth. It is the top of the contact sheet that ``colorlab eval --protocol view --out DIR`` writes, in smaller
cells, saved as JPEG.

    python scripts/make_before_after.py --data corpus --out docs/before_after.jpg --overwrite
"""

from __future__ import annotations

import argparse
import pathlib
import sys


def main(argv=None) -> int:
    from colorlab.cli.common import add_model_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="corpus", help="a Places365-layout folder with a val split (the corpus)")
    add_model_arguments(parser, strength=False)
    parser.add_argument("--rows", type=int, default=4, help="pairs shown, one per row (default 4)")
    parser.add_argument("--cell", type=int, default=96, help="side of each picture's square in pixels (default 96)")
    parser.add_argument("--out", default="docs/before_after.jpg", help="the JPEG to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)

    from PIL import Image

    from colorlab.errors import ColorlabError
    from colorlab.evaluate import baseline_methods, contact_sheet, dev_pairs, evaluate_methods, model_method
    from colorlab.inference import resolve_adaptation

    try:
        out = pathlib.Path(args.out)
        if out.exists() and not args.overwrite:
            raise ColorlabError(f"{out} exists (add --overwrite to replace it)")
        pairs = dev_pairs(args.data, "view")[:args.rows]
        methods = {**baseline_methods(), "as trained": model_method(args.weights, adapt=0)}   # the column titles
        steps, _ = resolve_adaptation(args.weights, args.adapt)                         # fit a 96-px cell
        if steps:                            # the same weights, adapted to each reference first (colorlab.adapt)
            name = "adapted" if args.adapt is None else f"adapted, {steps}"
            methods[name] = model_method(args.weights, adapt=args.adapt)
        outputs: dict = {}
        evaluate_methods(pairs, methods, outputs=outputs)
        contact_sheet(pairs, outputs, out, max_rows=args.rows, cell=args.cell, overwrite=args.overwrite)
        with Image.open(out) as picture:   # the suffix picks the format (colorlab.io.save_image): a JPEG here
            size = picture.size
    except ColorlabError as error:
        print(f"make_before_after: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({size[0]}x{size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
