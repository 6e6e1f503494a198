"""Benchmark: the cost of naming corrupt images in ``python -m yolo_ext.widerface convert``.

convert used to read image headers only (PIL lazy open); it now decodes every image at 1/8 scale (JPEG DCT scaling,
``Image.draft``) so that a truncated or corrupt file is named with its annotation line. Compared, interleaved over
rounds on the same files: header only, the 1/8-scale decode convert does, and a full decode. Prints ms per image
(median and spread over rounds) and the ratios. Images: ``--images GLOB``, default the train images of the built-in
synthetic set (generated on first use, 300 images, 416 px).

    python bench/bench_convert_decode.py [--rounds 5] [--images 'WIDER_train/images/*/*.jpg']
"""
from __future__ import annotations

import argparse
import glob
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from yolo_ext.widerface.synth import ensure_synth_dataset  # noqa: E402


def header(files):
    for f in files:
        with Image.open(f) as im:
            im.size


def draft(files):  # what widerface/convert.py::image_sizes does
    for f in files:
        with Image.open(f) as im:
            w, h = im.size
            im.draft("RGB", (max(1, w // 8), max(1, h // 8)))
            im.load()


def full(files):
    for f in files:
        with Image.open(f) as im:
            im.load()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", default=None, help="glob of images (default: the synthetic train set)")
    a = ap.parse_args()
    if a.images is None:
        root = ensure_synth_dataset().parent.parent / "wider"
        a.images = str(root / "WIDER_train" / "images" / "*" / "*.jpg")
    files = sorted(glob.glob(a.images))
    if not files:
        raise SystemExit(f"no images match {a.images}")
    res = {"header": [], "draft 1/8": [], "full": []}
    for _ in range(a.rounds):  # interleaved: machine load drifts hit every side alike
        for name, fn in zip(res, (header, draft, full)):
            t = time.perf_counter()
            fn(files)
            res[name].append((time.perf_counter() - t) / len(files) * 1e3)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"{len(files)} images, {a.rounds} rounds")
    for k, v in res.items():
        print(f"{k:>10}: {med[k]:.3f} ms/image (spread {min(v):.3f}-{max(v):.3f})")
    print(f"draft / header {med['draft 1/8'] / med['header']:.1f}x, draft / full {med['draft 1/8'] / med['full']:.2f}x")


if __name__ == "__main__":
    main()
