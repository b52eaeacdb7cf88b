"""``colorlab video``: colour a video from a colour reference photo (:func:`colorlab.video.colorize_video`)."""

import os
import pathlib
import sys

from colorlab.cli.common import add_model_arguments, one_line_warnings
from colorlab.video import DEFAULT_CRF, TEMPORAL_WEIGHT, colorize_video   # NumPy + Pillow; PyAV, OpenCV, Keras lazily


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "video", help="colour a video from a colour reference photo (flicker-free, audio kept, resumable)",
        description="Colour INPUT with the colours of a reference photo and write OUT (.mp4, .mov or .mkv, "
                    "H.264; audio copied as it is). An interrupted job resumes when the same command is run "
                    "again; its work is kept in OUT.partial/ until the video is finished, and one job at a time may "
                    "work there (a second one is refused). A damaged OUT.partial/ needs --restart.")
    parser.add_argument("input", metavar="INPUT", help="the video to colour (only its lightness is used)")
    parser.add_argument("--reference", "-r", required=True, metavar="REF", help="the colour reference photo")
    parser.add_argument("--output", "-o", required=True, metavar="OUT", help="output video (.mp4, .mov, .mkv)")
    add_model_arguments(parser)
    parser.add_argument("--temporal-weight", type=float, default=TEMPORAL_WEIGHT, metavar="W",
                        help=f"weight of the colours carried along the motion, 0 = colour each frame on its "
                             f"own (default {TEMPORAL_WEIGHT})")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="frames per model call (default 8)")
    parser.add_argument("--crf", type=int, default=DEFAULT_CRF, metavar="Q",
                        help=f"H.264 quality, 0 = lossless ... 51 (default {DEFAULT_CRF})")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    parser.add_argument("--restart", action="store_true", help="discard an interrupted job instead of resuming")
    parser.set_defaults(func=run)


def run(args) -> int:
    partial = pathlib.Path(args.output).with_name(pathlib.Path(args.output).name + ".partial")
    try:
        with one_line_warnings():
            result = colorize_video(args.input, args.reference, args.output, weights=args.weights,
                                    strength=args.strength, temporal_weight=args.temporal_weight,
                                    batch_size=args.batch_size, crf=args.crf, overwrite=args.overwrite,
                                    restart=args.restart, adapt=args.adapt)
    except KeyboardInterrupt:
        print(f"colorlab: interrupted; finished segments are kept in {os.fspath(partial)!r}: run the same "
              "command again to resume", file=sys.stderr)
        return 130
    resumed = f", resumed at frame {result.resumed_from}" if result.resumed_from else ""
    print(f"wrote {os.fspath(result.path)}: {result.frames} frames, {len(result.cuts)} shot(s){resumed}, "
          f"{result.fps:.1f} frames/s")
    return 0
