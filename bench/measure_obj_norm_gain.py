#!/usr/bin/env python
"""Measure the obj_norm_gain that makes a positive weigh the same under obj_norm "pos" as under "mean".

Under "mean" a positive of level i weighs balance_i / cells_i; under "pos" it weighs 1 / positives. Their ratio,
sum_i(balance_i * pos_i / cells_i), depends on data, model and image size. Prints it per batch and the mean.

usage: python bench/measure_obj_norm_gain.py [--cfg yolov5n-1a.yaml] [--data synth] [--imgsz 416] [--batches 5]
"""

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("YOLO_OFFLINE", "1")

import yolo_ext  # noqa: E402,F401
from ultralytics.data import build_dataloader, build_yolo_dataset  # noqa: E402
from ultralytics.data.utils import check_det_dataset  # noqa: E402
from ultralytics.utils import DEFAULT_CFG  # noqa: E402
from yolo_ext.config.data import resolve_data  # noqa: E402
from yolo_ext.engine import AnchorDetectionModel  # noqa: E402
from yolo_ext.config.paths import resolve_model_cfg  # noqa: E402
from yolo_ext.config.defaults import trainer_base_cfg  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cfg", default="yolov5n-1a.yaml")
    ap.add_argument("--data", default="synth")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--assigner", default="yolov5")
    a = ap.parse_args()
    args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": a.imgsz, "assigner": a.assigner})
    data = check_det_dataset(resolve_data(a.data))
    dl = build_dataloader(build_yolo_dataset(args, data["train"], a.batch, data, mode="train", stride=32), a.batch, 0,
                          shuffle=True, rank=-1)
    model = AnchorDetectionModel(str(resolve_model_cfg(a.cfg)), nc=data["nc"], verbose=False)
    model.args = args
    crit = model.init_criterion()
    vals = []
    for k, batch in enumerate(dl):
        if k == a.batches:
            break
        maps = model(batch["img"].float() / 255)["preds"]
        out = crit.assigner(crit.targets(batch, "cpu"), model.head.anchor_px, model.head.stride,
                            [tuple(x.shape[2:4]) for x in maps])
        pos = [len(lv.b) for lv in out.levels]
        cells = [x[..., 0].numel() for x in maps]
        vals.append(sum(b * p / c for b, p, c in zip(crit.balance, pos, cells)))
        print(f"batch {k}: positives per level {pos}, cells {cells}: ratio {vals[-1]:.4f}")
    print(f"mean ratio (suggested obj_norm_gain): {sum(vals) / len(vals):.4f}")


if __name__ == "__main__":
    main()
