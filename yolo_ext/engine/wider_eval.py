"""WIDER FACE evaluation of a trained model: predict the val images, write the official files, evaluate.

Used by ``val.py`` and at the end of training when the dataset YAML has a ``widerface:`` section (written by
``python -m yolo_ext.widerface convert``): ``gt_dir`` (the ``eval_tools/ground_truth`` folder) and ``val_images``
(the ``WIDER_val/images`` folder). Images are read in the ground truth's order from ``val_images/<event>/<name>.jpg``.

Test size: ``imgsz > 0`` letterboxes every image so its longest side is ``imgsz`` (e.g. 640, "VGA" as most papers
report); ``imgsz = 0`` runs each image at its original size (rounded up to the stride), the other common protocol.
``square`` pads every input to ``imgsz x imgsz`` (SCRFD's VGA protocol); ``tta`` runs YOLOv5's test-time augmentation
(``wider_protocols.tta_predict``). Presets of published tables: ``wider_protocols.PROTOCOLS`` (``val.py
--wider-protocol``). Outputs in ``save_dir``: ``wider_pred/<event>/<name>.txt`` (official submission layout),
``wider_pr.png`` (the three PR curves) and ``wider_ap.json`` ({"easy", "medium", "hard", "imgsz", "conf", "iou",
"n_images", "protocol", "square", "tta", "flops"}: ``flops`` in both conventions, see ``wider_protocols``), all atomic.
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
from .wider_protocols import TTA_SCALES, flops_conventions


def _image_paths(gt, val_images: Path) -> list[Path]:
    paths = [val_images / ev / f"{name}.jpg" for ev, name in gt.images]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} WIDER val images missing, e.g. {missing[0]}")
    return paths


def predict_wider(model, paths, imgsz=640, conf=0.01, iou=0.6, device="", batch=16, max_det=1000, square=False,
                  tta=False):
    """Run ``model`` (an ultralytics Model: AnchorYOLO or InferenceYOLO) over ``paths``; returns per-image (n, 5) arrays
    ``x, y, w, h, score`` in original-image pixels, in the order of ``paths``. ``square``: inputs padded to
    ``imgsz x imgsz``; ``tta``: YOLOv5's flip + scales test-time augmentation, merged by the NMS."""
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
                                    verbose=False, batch=len(chunk), rect=not square, augment=tta)
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


def run_wider_eval(model, data, save_dir, imgsz=640, conf=0.01, iou=0.6, device="", batch=16, max_det=1000,
                   protocol="ours", square=False, tta=False):
    """Predict, write official files, evaluate; prints the easy/medium/hard table with the model's FLOPs in both
    conventions and returns the APs dict (``protocol`` names the preset the settings come from, for the record)."""
    sec = wider_section(data)
    if sec is None:
        raise ValueError("dataset has no 'widerface' section (convert it with `python -m yolo_ext.widerface convert`)")
    if isinstance(model, (str, Path)):
        model = InferenceYOLO(str(model))
    save_dir = Path(save_dir)
    gt = load_ground_truth(sec["gt_dir"])
    paths = _image_paths(gt, Path(sec["val_images"]))
    where = "original size" if imgsz <= 0 else f"longest side {imgsz}" + (f", padded to {imgsz}x{imgsz}" if square else "")
    LOGGER.info(f"WIDER FACE ({protocol} protocol): predicting {len(paths)} val images at {where} (conf {conf}, NMS IoU "
                f"{iou}{', TTA: flip + scales ' + '/'.join(map(str, TTA_SCALES)) if tta else ''})...")
    dets = predict_wider(model, paths, imgsz, conf, iou, device, batch, max_det, square=square, tta=tta)
    mapping = dict(zip(gt.images, dets))
    write_predictions(mapping, save_dir / "wider_pred")
    res = evaluate(mapping, gt)
    plot_pr(res.pr, save_dir / "wider_pr.png", title=f"WIDER FACE val ({'orig' if imgsz <= 0 else imgsz} px)")
    flops = flops_conventions(model.model)
    summary = {**{k: float(v) for k, v in res.items()}, "imgsz": imgsz, "conf": conf, "iou": iou, "n_images": len(paths),
               "protocol": protocol, "square": square, "tta": tta, "flops": flops}
    atomic_write(save_dir / "wider_ap.json", json.dumps(summary, indent=2).encode())
    LOGGER.info(format_table(res, flops, protocol) + f"\nWIDER FACE results saved to {save_dir}")
    return res


def format_table(res, flops=None, protocol=None) -> str:
    rows = "\n".join(f"{k:>8} {res[k]:8.4f}" for k in ("easy", "medium", "hard") if k in res)
    head = f"\n{'WIDER FACE':>8}" + (f" ({protocol} protocol)" if protocol else "")
    cost = ""
    if flops:
        cost = (f"\nmodel: {flops['gflops_2macs_640x640']:.3f} GFLOPs at 640x640 (2 x MACs, YOLO papers), "
                f"{flops['gmacs_640x480']:.3f} GMACs at 640x480 (SCRFD's 'FLOPs')")
    return f"{head}\n{'setting':>8} {'AP':>8}\n{rows}{cost}"
