"""``python -m yolo_ext.anchors``: best possible recall of a model's anchors on a dataset, level spacing, fitting.

    python -m yolo_ext.anchors --data DATA --cfg MODEL [--imgsz N] [--anchor-t T] [--evolve --out NEW.yaml]

The metric and the fitting are ``yolo_ext.anchors``; this module reads the dataset and the model and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import yaml
from ultralytics.data.dataset import YOLODataset
from ultralytics.data.utils import check_det_dataset
from ultralytics.utils import DEFAULT_CFG

from ..anchors import check_anchors, evolve_anchors, format_report, label_wh, write_model_yaml
from ..config.data import resolve_data
from ..config.defaults import ext_defaults
from ..config.paths import resolve_model_cfg
from ..engine.model import AnchorDetectionModel

DESCRIPTION = "Anchor analysis: best possible recall of a model's anchors on a dataset, level spacing, and anchor fitting."

def load_dataset_labels(data: str, split: str = "train", imgsz: int = 640) -> list[dict]:
    """Labels of one split of an ultralytics dataset YAML (or 'synth'), as ``YOLODataset.labels``."""
    d = check_det_dataset(resolve_data(data), autodownload=False)
    if split not in d:
        raise SystemExit(f"--data {data}: no '{split}' split (have {', '.join(k for k in ('train', 'val', 'test') if d.get(k))})")
    ds = YOLODataset(img_path=d[split], imgsz=imgsz, augment=False, hyp=DEFAULT_CFG, data=d, task="detect")
    return ds.labels


def _load_cfg(cfg: str):
    """(model, YAML text or None, anchor_t or None) from a model YAML or a checkpoint."""
    if str(cfg).endswith(".pt"):
        ckpt = torch.load(cfg, map_location="cpu", weights_only=False)
        model = (ckpt.get("ema") or ckpt["model"]).float()
        t = (ckpt.get("train_args") or {}).get("anchor_t")
        return model, yaml.safe_dump(model.yaml, sort_keys=False), t
    path = resolve_model_cfg(cfg)
    text = path.read_text()
    t = (yaml.safe_load(text) or {}).get("anchor_t")
    return AnchorDetectionModel(str(path), verbose=False), text, t


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.anchors", description=DESCRIPTION)
    ap.add_argument("--data", required=True, help="dataset YAML, or 'synth'")
    ap.add_argument("--cfg", required=True, help="model YAML (path or name in models/) or checkpoint .pt")
    ap.add_argument("--imgsz", type=int, default=640, help="training size (longest side), pixels")
    ap.add_argument("--anchor-t", type=float, default=None,
                    help="ratio threshold; default: the checkpoint's / YAML's anchor_t, else the hyp default")
    ap.add_argument("--split", default="train", help="dataset split to analyse")
    ap.add_argument("--jitter", type=float, default=0.1, help="per-image random label scale 1 +- jitter (YOLOv5)")
    ap.add_argument("--evolve", action="store_true", help="fit anchors (k-means + genetic refinement)")
    ap.add_argument("--generations", type=int, default=300, help="refinement generations (x population 16)")
    ap.add_argument("--keep-ratio", action="store_true", help="with --evolve: keep adjacent level ratios >= anchor_t")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="with --evolve: model YAML to write with the fitted anchors")
    a = ap.parse_args(argv)
    if a.evolve and not a.out:
        ap.error("--evolve needs --out NEW.yaml")
    model, text, t = _load_cfg(a.cfg)
    anchor_t = a.anchor_t or t or float(ext_defaults()["anchor_t"])
    wh = label_wh(load_dataset_labels(a.data, a.split, a.imgsz), a.imgsz, a.jitter, a.seed)
    res = check_anchors(wh, model, anchor_t, a.imgsz)
    print(format_report(res, anchor_t, prefix=f"{Path(a.cfg).name}: "))
    if not a.evolve:
        return res
    ev = evolve_anchors(wh, res["anchors"], anchor_t, generations=a.generations, seed=a.seed,
                        min_ratio=anchor_t if a.keep_ratio else None)
    new = check_anchors(wh, ev["anchors"], anchor_t, a.imgsz)
    print(f"evolve: fitness {ev['fitness_before']:.4f} -> {ev['fitness_after']:.4f}"
          f"{'' if ev['changed'] else ' (no fitter anchors found; keeping the input anchors)'}")
    print(format_report(new, anchor_t, prefix="evolved: "))
    out = write_model_yaml(text, ev["anchors"], a.out, strides=model.stride.tolist())
    print(f"evolve: wrote {out}")
    return {**res, "evolved": new, **ev, "out": str(out)}


if __name__ == "__main__":
    main()
