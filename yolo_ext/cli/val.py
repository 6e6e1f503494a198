"""``val.py``: validate a checkpoint (ultralytics mAP plus WIDER FACE easy/medium/hard AP)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config.data import resolve_data, wider_section
from ..config.errors import ConfigError
from ..engine.wider_eval import run_wider_eval
from ..engine.yolo import AnchorYOLO
from .common import add_run_dir_args, fail, run_dir_overrides


def val_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="val.py",
        description="Validate a yolo-ext checkpoint: ultralytics mAP, plus WIDER FACE easy/medium/hard AP on WIDER data.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--weights", required=True, help="checkpoint (.pt) from train.py")
    ap.add_argument("--data", default="synth", help="dataset YAML, or 'synth' for the built-in synthetic WIDER set")
    ap.add_argument("--imgsz", type=int, default=640, help="inference size (pixels, longest side)")
    ap.add_argument("--batch-size", type=int, default=16, help="batch size")
    ap.add_argument("--conf-thres", type=float, default=0.001, help="confidence threshold")
    ap.add_argument("--iou-thres", type=float, default=0.6, help="NMS IoU threshold")
    ap.add_argument("--device", default="", help="cuda device, i.e. 0, or cpu; empty: auto")
    add_run_dir_args(ap, "runs/val")
    ap.add_argument("--wider-imgsz", type=int, default=None,
                    help="WIDER FACE test size: longest side in pixels (default: --imgsz), 0 = original image size")
    ap.add_argument("--wider-conf", type=float, default=0.01, help="confidence threshold of the WIDER FACE predictions")
    ap.add_argument("--no-wider", action="store_true", help="skip the WIDER FACE evaluation on WIDER-format data")
    return ap


def val_main(argv=None):
    a = val_parser().parse_args(argv)
    w = Path(a.weights)
    try:
        if not w.is_file():
            raise FileNotFoundError(f"--weights: checkpoint not found: {w}")
        data = resolve_data(a.data)
        wider = None if a.no_wider else wider_section(data)
    except (ConfigError, FileNotFoundError) as e:
        fail("val.py", e)
    model = AnchorYOLO(str(w))
    metrics = model.val(data=data, imgsz=a.imgsz, batch=a.batch_size, conf=a.conf_thres, iou=a.iou_thres,
                        device=a.device, **run_dir_overrides(a))
    if wider is not None:
        imgsz = a.imgsz if a.wider_imgsz is None else a.wider_imgsz
        metrics.wider = run_wider_eval(model, data, metrics.save_dir, imgsz=imgsz, conf=a.wider_conf,
                                       iou=a.iou_thres, device=a.device, batch=a.batch_size)
    return metrics
