"""``python -m yolo_ext.widerface {evaluate,convert,synth}``: WIDER FACE command line tools.

Light on purpose: ``evaluate`` imports numpy and scipy only (matplotlib with ``--plot``), never torch or ultralytics
(``yolo_ext/__init__.py`` skips them in a ``python -m yolo_ext.widerface`` process); ``convert`` and ``synth`` import
what they need (PIL, yaml) when they run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from ..utils.owned import OutputDirError
from ..widerface.api import evaluate

SYNTH_MIN_SIZE = 64  # yolo_ext.widerface.synth.MIN_SIZE (not imported here: evaluate stays light; a test checks)


def _cmd_evaluate(a) -> int:
    t = time.perf_counter()
    res = evaluate(a.pred, a.gt, iou=a.iou)
    dt = time.perf_counter() - t
    if a.plot:
        from ..widerface.plot import plot_pr  # matplotlib only with --plot

        print(f"PR curves saved to {plot_pr(res.pr, a.plot)}", file=sys.stderr)
    if a.json:
        print(json.dumps(dict(res)))
        return 0
    print(f"{'setting':<8} {'AP':>8} {'faces':>7}  (IoU {a.iou}, {dt:.2f} s)")
    for s, ap in res.items():
        print(f"{s:<8} {ap:8.4f} {res.pr[s].count_face:7d}")
    return 0


def _cmd_convert(a) -> int:
    from ..widerface.convert import convert  # PIL, yaml: not needed by evaluate

    yaml_path = convert(a.root, a.out, min_size=a.min_size, keep_invalid=a.keep_invalid,
                        splits=tuple(a.splits), copy=a.copy, force=a.force)
    print(yaml_path)
    return 0


def _cmd_synth(a) -> int:
    from ..widerface.synth import synth  # PIL, scipy.ndimage, the LFW faces: not needed by evaluate

    root = synth(a.out, a.train, a.val, a.seed, size=a.size, force=a.force)
    print(root)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m yolo_ext.widerface", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="{evaluate,convert,synth}")

    e = sub.add_parser("evaluate", help="official WIDER FACE val evaluation (easy/medium/hard AP)",
                       description="Official WIDER FACE evaluation (MATLAB eval_tools semantics), vectorised. "
                                   "Missing prediction files count as images without detections (one warning).")
    e.add_argument("--pred", required=True, help="prediction dir: <event>/<image>.txt (name, count, 'x y w h score' rows)")
    e.add_argument("--gt", required=True, help="eval_tools/ground_truth dir with wider_face_val.mat and wider_{easy,medium,hard}_val.mat")
    e.add_argument("--iou", type=float, default=0.5, help="IoU threshold (official: 0.5)")
    e.add_argument("--json", action="store_true", help='print only {"easy": .., "medium": .., "hard": ..} on stdout')
    e.add_argument("--plot", metavar="FILE", help="save the three PR curves to FILE (png/pdf/svg)")
    e.set_defaults(func=_cmd_evaluate)

    c = sub.add_parser("convert", help="official WIDER layout -> ultralytics YOLO dataset + YAML",
                       description="Convert WIDER_{train,val}/images + wider_face_split/*_bbx_gt.txt to YOLO labels "
                                   "(class 0 'face', normalised cx cy w h), keeping event sub-folders.")
    c.add_argument("--root", required=True, help="WIDER FACE root (WIDER_train/, WIDER_val/, wider_face_split/, eval_tools/)")
    c.add_argument("--out", required=True, help="output dataset dir (images/, labels/, <name>.yaml): new or empty, "
                   "never --root or a folder inside or above it")
    c.add_argument("--min-size", type=float, default=0.0, metavar="PX", help="drop faces whose width or height (after clipping) is below PX")
    c.add_argument("--keep-invalid", action="store_true", help="keep faces flagged invalid (dropped by default)")
    c.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"], help="splits to convert")
    c.add_argument("--copy", action="store_true", help="copy images instead of symlinking them")
    c.add_argument("--force", action="store_true", help="replace --out if it holds a previous convert output "
                   "(never any other folder)")
    c.set_defaults(func=_cmd_convert)

    s = sub.add_parser("synth", help="deterministic synthetic WIDER FACE stand-in (official layout)",
                       description="Generate a synthetic face dataset in the official WIDER layout (images, txt "
                                   "annotations with all ten attributes, eval_tools/ground_truth/*.mat). "
                                   "Byte-identical output for identical arguments.")
    s.add_argument("--out", required=True, help="output root of the WIDER layout (new or empty folder)")
    s.add_argument("--train", type=int, required=True, metavar="N", help="number of train images")
    s.add_argument("--val", type=int, required=True, metavar="M", help="number of val images")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--size", type=int, default=416, help=f"long side of the canvas in pixels (>= {SYNTH_MIN_SIZE})")
    s.add_argument("--force", action="store_true", help="replace --out if it holds a previous synth output "
                   "(never any other folder)")
    s.set_defaults(func=_cmd_synth)
    return p


def main(argv=None) -> int:
    """Bad input (arguments, files, an output folder that must not be replaced) exits with status 2 and one line."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, OutputDirError) as e:  # our errors name the file, line or argument
        print(f"python -m yolo_ext.widerface {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
