"""``val.py``: validate a checkpoint (ultralytics mAP plus WIDER FACE easy/medium/hard AP)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config.data import resolve_data, wider_section
from ..config.errors import ConfigError
from ..engine.wider_eval import run_wider_eval
from ..engine.wider_protocols import PROTOCOLS
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
    ap.add_argument("--wider-protocol", default="ours", choices=list(PROTOCOLS),
                    help="WIDER FACE test protocol of a published table: " + "; ".join(
                        f"{p.name}: {'original size' if p.imgsz == 0 else p.imgsz}{' padded square' if p.square else ''}"
                        f", conf {p.conf}, NMS {p.iou}" for p in PROTOCOLS.values() if p.name != "ours")
                    + "; ours: --imgsz (or --wider-imgsz), --wider-conf (0.01), NMS --iou-thres (0.6)")
    ap.add_argument("--tta", action="store_true", help="WIDER FACE with YOLOv5's test-time augmentation (left-right flip "
                    "+ scales 1/0.83/0.67, merged by NMS); off by default, as in the published tables")
    ap.add_argument("--wider-imgsz", type=int, default=None,
                    help="WIDER FACE test size: longest side in pixels (default: --imgsz), 0 = original image size "
                         "(protocol 'ours' only)")
    ap.add_argument("--wider-conf", type=float, default=None,
                    help="confidence threshold of the WIDER FACE predictions (protocol 'ours' only; default 0.01)")
    ap.add_argument("--no-wider", action="store_true", help="skip the WIDER FACE evaluation on WIDER-format data")
    return ap


def wider_settings(a: argparse.Namespace) -> dict:
    """imgsz / conf / iou / square of the WIDER evaluation: the preset's, or for 'ours' the flags'.

    Raises:
        ConfigError: --wider-imgsz / --wider-conf given with a preset that fixes them.
    """
    p = PROTOCOLS[a.wider_protocol]
    if p.name != "ours":
        given = [f for f, v in (("--wider-imgsz", a.wider_imgsz), ("--wider-conf", a.wider_conf)) if v is not None]
        if given:
            raise ConfigError(f"{', '.join(given)}: fixed by --wider-protocol {p.name} ({p.source}); use "
                              "--wider-protocol ours to set them")
        return {"imgsz": p.imgsz, "conf": p.conf, "iou": p.iou, "square": p.square}
    return {"imgsz": a.imgsz if a.wider_imgsz is None else a.wider_imgsz,
            "conf": p.conf if a.wider_conf is None else a.wider_conf, "iou": a.iou_thres, "square": False}


def val_main(argv=None):
    a = val_parser().parse_args(argv)
    w = Path(a.weights)
    try:
        if not w.is_file():
            raise FileNotFoundError(f"--weights: checkpoint not found: {w}")
        data = resolve_data(a.data)
        wider = None if a.no_wider else wider_section(data)
        settings = wider_settings(a)
    except (ConfigError, FileNotFoundError) as e:
        fail("val.py", e)
    model = AnchorYOLO(str(w))
    metrics = model.val(data=data, imgsz=a.imgsz, batch=a.batch_size, conf=a.conf_thres, iou=a.iou_thres,
                        device=a.device, **run_dir_overrides(a))
    if wider is not None:
        metrics.wider = run_wider_eval(model, data, metrics.save_dir, device=a.device, batch=a.batch_size,
                                       protocol=a.wider_protocol, tta=a.tta, **settings)
    return metrics
