"""Data-loading cost of the training-time augmentations (yolo_ext.augment), as ratios to the stock ultralytics
pipeline measured in the same run.

Sides (each a training ``YOLODataset`` of the same images, one process, one thread): the stock pipeline (mosaic 1.0,
the default), the stock pipeline + cutout (p = 1, 3 holes), square crop (p = 1: SCRFD crops instead of mosaic), and
the stock pipeline without mosaic (affine only, what square crop replaces). Each round times ``dataset[i]`` for the
same images on every side, round-robin, so load from other processes shifts every side alike; prints the median
ms / image over rounds, the spread (min-max) and the ratio to stock.

    python bench/bench_augment.py [--data synth] [--imgsz 416] [--images 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
import yolo_ext  # noqa: E402,F401  (offline mode, patches)
from ultralytics.cfg import get_cfg  # noqa: E402
from ultralytics.data.build import build_yolo_dataset  # noqa: E402
from ultralytics.data.utils import check_det_dataset  # noqa: E402

from yolo_ext.augment import CutoutConfig, SquareCropConfig, Tricks, attach  # noqa: E402
from yolo_ext.config.data import resolve_data  # noqa: E402

CUT = CutoutConfig(p=1.0, holes=3, scale=(0.02, 0.2), min_visible=0.4, fill="random")
SQ = SquareCropConfig(p=1.0, scale=(0.3, 2.0))
SIDES = {
    "stock (mosaic)": ({"mosaic": 1.0}, Tricks()),
    "stock + cutout": ({"mosaic": 1.0}, Tricks(cutout=CUT)),
    "square crop": ({"mosaic": 1.0}, Tricks(square_crop=SQ)),
    "stock, mosaic 0": ({"mosaic": 0.0}, Tricks()),
}


def dataset(data: dict, imgsz: int, hyp: dict, tricks: Tricks):
    cfg = get_cfg(overrides={"imgsz": imgsz, **hyp})
    return attach(build_yolo_dataset(cfg, data["train"], 16, data, mode="train", stride=32), tricks)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synth")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args(argv)
    cv2.setNumThreads(1)
    data = check_det_dataset(resolve_data(a.data))
    sets = {name: dataset(data, a.imgsz, hyp, tricks) for name, (hyp, tricks) in SIDES.items()}
    n = min(a.images, min(len(d) for d in sets.values()))
    times = {name: [] for name in sets}
    for r in range(a.rounds):
        for name, ds in sets.items():
            random.seed(r)
            np.random.seed(r)
            t0 = time.perf_counter()
            for i in range(n):
                ds[i]
            times[name].append((time.perf_counter() - t0) / n * 1e3)
    base = statistics.median(times["stock (mosaic)"])
    print(f"{n} images x {a.rounds} rounds at {a.imgsz} px, ms per image (median, min-max), ratio to stock")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:>18}: {med:6.2f} ms ({min(t):.2f}-{max(t):.2f})  x{med / base:.2f}")


if __name__ == "__main__":
    main()
