"""Command-line front ends behind ``train.py`` and ``val.py`` (YOLOv5-style flags)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from .paths import DATA, resolve_model_cfg, resolve_run_dir

DEFAULT_HYP = DATA / "hyps" / "hyp.scratch-low.yaml"


def parse_set(items: list[str]) -> dict:
    """``["k=v", ...]`` -> dict, values parsed as YAML scalars (``0.5``, ``true``, ``[1,2]``, ``radius``)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set expects key=value, got '{item}'")
        out[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return out


def load_hyp(path: str | Path) -> dict:
    """Hyperparameter YAML -> dict (clear error naming the file)."""
    p = Path(path)
    if not p.is_file():
        raise SystemExit(f"--hyp: file not found: {p}")
    d = yaml.safe_load(p.read_text()) or {}
    if not isinstance(d, dict):
        raise SystemExit(f"--hyp {p}: expected a mapping of hyperparameters, got {type(d).__name__}")
    return d


def add_run_dir_args(ap: argparse.ArgumentParser, project: str) -> None:
    """--project / --name / --exist-ok, shared by train.py and val.py."""
    ap.add_argument("--project", default=project, help="runs directory (resolved to an absolute path)")
    ap.add_argument("--name", default="exp", help=f"run name ({project}/NAME, incremented if it exists)")
    ap.add_argument("--exist-ok", action="store_true", help="reuse an existing run directory")


def train_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="train.py",
        description="Train an anchor-based YOLO (yolo-ext) with a pluggable label assigner, through ultralytics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--cfg", default="face-vgg-fpn.yaml", help="model YAML (path, or a name in models/)")
    ap.add_argument("--weights", default="", help="initial weights (.pt) to load into --cfg; empty: from scratch")
    ap.add_argument("--data", default="synth", help="dataset YAML, or 'synth' for the built-in synthetic WIDER-format set")
    ap.add_argument("--hyp", default=str(DEFAULT_HYP), help="hyperparameter YAML (ultralytics and yolo-ext keys)")
    ap.add_argument("--epochs", type=int, default=100, help="number of epochs")
    ap.add_argument("--batch-size", type=int, default=16, help="total batch size")
    ap.add_argument("--imgsz", type=int, default=640, help="train/val image size (pixels, longest side)")
    ap.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 (DDP) or cpu; empty: auto")
    ap.add_argument("--workers", type=int, default=8, help="dataloader workers per process (0 on CPU)")
    add_run_dir_args(ap, "runs/train")
    ap.add_argument("--resume", nargs="?", const=True, default=False, help="resume the latest run, or the given last.pt")
    ap.add_argument("--assigner", default=None, help="label assigner, e.g. yolov5, radius+ignore+dedup; 'list' prints all")
    ap.add_argument("--loss", default=None, help="objectness (and class) loss: bce, focal, qfl, vfl; see --set obj_loss=/cls_loss=")
    ap.add_argument("--seed", type=int, default=0, help="global training seed")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="any other hyperparameter, e.g. anchor_t=3.0")
    return ap


def train_overrides(a: argparse.Namespace) -> dict:
    """Merge hyp file < flags < --set into ultralytics overrides."""
    if a.resume:
        ov = {"resume": a.resume if a.resume is True else str(Path(a.resume).resolve())}
        ov.update(parse_set(a.set))
        return ov
    ov = load_hyp(a.hyp) if a.hyp else {}
    ov.update(
        model=str(resolve_model_cfg(a.cfg)),
        data=resolve_data(a.data),
        epochs=a.epochs,
        batch=a.batch_size,
        imgsz=a.imgsz,
        device=a.device,
        workers=a.workers,
        project=resolve_run_dir(a.project),
        name=a.name,
        exist_ok=a.exist_ok,
        seed=a.seed,
    )
    if a.weights:
        ov["pretrained"] = str(Path(a.weights).resolve())
    if a.assigner:
        ov["assigner"] = a.assigner
    if a.loss:
        ov["obj_loss"] = ov["cls_loss"] = a.loss
    ov.update(parse_set(a.set))
    return ov


def resolve_data(data: str) -> str:
    """Dataset argument -> ultralytics dataset YAML path.

    'synth' (or 'default') is the built-in synthetic WIDER-format set; a YAML with a ``synth:`` section
    (``data/widerface-synth.yaml``) generates that synthetic set (cached, deterministic); a bare file name is also
    looked up in ``data/``; anything else is passed to ultralytics as is."""
    from .widerface.synth import ensure_synth_dataset

    if data in ("synth", "default"):
        return str(ensure_synth_dataset())
    p = Path(data)
    if p.suffix in (".yaml", ".yml") and not p.exists() and (DATA / p.name).exists():
        p = DATA / p.name
    if not p.exists():
        return data
    d = yaml.safe_load(p.read_text()) if p.suffix in (".yaml", ".yml") else None
    if isinstance(d, dict) and isinstance(d.get("synth"), dict):
        s = d["synth"]
        unknown = set(s) - {"train", "val", "seed", "size"}
        if unknown:
            raise SystemExit(f"{p}: unknown synth keys {sorted(unknown)}; valid: train, val, seed, size")
        return str(ensure_synth_dataset(int(s.get("train", 300)), int(s.get("val", 100)), int(s.get("seed", 0)),
                                        int(s.get("size", 416))))
    return str(p.resolve())


def train_main(argv=None):
    a = train_parser().parse_args(argv)
    if a.assigner == "list":
        from .assign import describe_assigners

        print(describe_assigners())
        return None
    from .trainer import AnchorTrainer

    trainer = AnchorTrainer(overrides=train_overrides(a))
    trainer.train()
    return trainer


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
    if not w.is_file():
        raise SystemExit(f"--weights: checkpoint not found: {w}")
    from .model import AnchorYOLO

    model = AnchorYOLO(str(w))
    data = resolve_data(a.data)
    metrics = model.val(
        data=data,
        imgsz=a.imgsz,
        batch=a.batch_size,
        conf=a.conf_thres,
        iou=a.iou_thres,
        device=a.device,
        project=resolve_run_dir(a.project),
        name=a.name,
        exist_ok=a.exist_ok,
    )
    from .wider_val import run_wider_eval, wider_section

    if not a.no_wider and wider_section(data) is not None:
        imgsz = a.imgsz if a.wider_imgsz is None else a.wider_imgsz
        metrics.wider = run_wider_eval(model, data, metrics.save_dir, imgsz=imgsz, conf=a.wider_conf,
                                       iou=a.iou_thres, device=a.device, batch=a.batch_size)
    return metrics


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
