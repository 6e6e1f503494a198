"""WIDER FACE evaluation of a trained model: predict the val images, write the official files, evaluate.

Used by ``val.py`` and at the end of training when the dataset YAML has a ``widerface:`` section (written by
``python -m yolo_ext.widerface convert``): ``gt_dir`` (the ``eval_tools/ground_truth`` folder) and ``val_images``
(the ``WIDER_val/images`` folder). Images are read in the ground truth's order from ``val_images/<event>/<name>.jpg``.

Test size: ``imgsz > 0`` letterboxes every image so its longest side is ``imgsz`` (e.g. 640, "VGA" as most papers
report); ``imgsz = 0`` runs each image at its original size (rounded up to the stride), the other common protocol.
Outputs in ``save_dir``: ``wider_pred/<event>/<name>.txt`` (official submission layout), ``wider_pr.png`` (the three
PR curves) and ``wider_ap.json`` ({"easy", "medium", "hard", "imgsz", "conf", "iou", "n_images"}), all atomic.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image
from ultralytics.utils import LOGGER

from ..config.data import wider_section
from ..utils.files import atomic_write
from ..widerface import evaluate, load_ground_truth, write_predictions
from ..widerface.plot import plot_pr
from .model import InferenceYOLO


def _image_paths(gt, val_images: Path) -> list[Path]:
    paths = [val_images / ev / f"{name}.jpg" for ev, name in gt.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} WIDER val images missing, e.g. {missing[0]}")
    return paths


def predict_wider(model, paths, imgsz=640, conf=0.01, iou=0.6, device="", batch=16, max_det=1000):
    """Run ``model`` (an ultralytics Model: AnchorYOLO or InferenceYOLO) over ``paths``; returns per-image (n, 5) arrays
    ``x, y, w, h, score`` in original-image pixels, in the order of ``paths``."""
    sizes = [imgsz] * len(paths)
    if imgsz <= 0:  # original size: longest side rounded up to the model stride
        s = int(max(model.model.stride))
        sizes = [int(math.ceil(max(_image_size(p)) / s) * s) for p in paths]
    out = [None] * len(paths)
    for size in sorted(set(sizes)):
        idx = [i for i, z in enumerate(sizes) if z == size]
        for k in range(0, len(idx), batch):
            chunk = idx[k : k + batch]
            files = [str(paths[i]) for i in chunk]
            try:
                res = model.predict(files, imgsz=size, conf=conf, iou=iou, device=device, max_det=max_det,
                                    verbose=False, batch=len(chunk))
            except OSError as e:  # ultralytics opens a list source with PIL: UnidentifiedImageError, truncated file
                raise ValueError(f"WIDER val image {_first_undecodable(files)} cannot be decoded ({e})") from None
            if len(res) != len(chunk):  # an image ultralytics skipped with a warning: the results would shift
                done = {r.path for r in res}
                bad = next(f for f in files if f not in done)
                raise ValueError(f"WIDER val image {bad} cannot be decoded (corrupt or not an image)")
            for i, r in zip(chunk, res):
                b = r.boxes.xyxy.cpu().numpy().astype(np.float64)
                s = r.boxes.conf.cpu().numpy().astype(np.float64)
                out[i] = np.column_stack((b[:, :2], b[:, 2:] - b[:, :2], s))
    return out


def _first_undecodable(files) -> str:
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
        except (OSError, SyntaxError, ValueError):
            return f
    return "(one of " + ", ".join(files) + ")"


def _image_size(p: Path) -> tuple:
    try:
        with Image.open(p) as im:
            return im.size
    except (OSError, SyntaxError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"WIDER val image {p} cannot be decoded ({e})") from None


def run_wider_eval(model, data, save_dir, imgsz=640, conf=0.01, iou=0.6, device="", batch=16, max_det=1000):
    """Predict, write official files, evaluate; prints the easy/medium/hard table and returns the APs dict."""
    sec = wider_section(data)
    if sec is None:
        raise ValueError("dataset has no 'widerface' section (convert it with `python -m yolo_ext.widerface convert`)")
    if isinstance(model, (str, Path)):
        model = InferenceYOLO(str(model))
    save_dir = Path(save_dir)
    gt = load_ground_truth(sec["gt_dir"])
    paths = _image_paths(gt, Path(sec["val_images"]))
    LOGGER.info(f"WIDER FACE: predicting {len(paths)} val images at "
                f"{'original size' if imgsz <= 0 else f'longest side {imgsz}'} (conf {conf}, NMS IoU {iou})...")
    dets = predict_wider(model, paths, imgsz, conf, iou, device, batch, max_det)
    mapping = dict(zip(gt.images, dets))
    write_predictions(mapping, save_dir / "wider_pred")
    res = evaluate(mapping, gt)
    plot_pr(res.pr, save_dir / "wider_pr.png", title=f"WIDER FACE val ({'orig' if imgsz <= 0 else imgsz} px)")
    summary = {**{k: float(v) for k, v in res.items()}, "imgsz": imgsz, "conf": conf, "iou": iou, "n_images": len(paths)}
    atomic_write(save_dir / "wider_ap.json", json.dumps(summary, indent=2).encode())
    LOGGER.info(format_table(res) + f"\nWIDER FACE results saved to {save_dir}")
    return res


def format_table(res) -> str:
    rows = "\n".join(f"{k:>8} {res[k]:8.4f}" for k in ("easy", "medium", "hard") if k in res)
    return f"\n{'WIDER FACE':>8}\n{'setting':>8} {'AP':>8}\n{rows}"
