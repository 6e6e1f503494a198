"""``train.py``: the YOLOv5-style training command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..assign import describe_assigners
from ..config.data import resolve_data
from ..config.errors import ConfigError
from ..config.overrides import load_hyp, parse_set
from ..config.paths import DATA, resolve_model_cfg
from ..config.validate import validate
from ..losses import describe_losses
from ..engine.trainer import AnchorTrainer
from ..utils.locks import DirLockError
from .common import add_run_dir_args, fail, run_dir_overrides

DEFAULT_HYP = DATA / "hyps" / "hyp.scratch-low.yaml"


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
    ap.add_argument("--resume", nargs="?", const=True, default=False,
                    help="resume the given checkpoint (RUN/weights/last.pt; it must exist) or, without a path, the "
                         "newest last.pt under the working directory; the run continues in the folder holding it")
    ap.add_argument("--assigner", default=None, help="label assigner, e.g. yolov5, radius+ignore+dedup; 'list' prints all")
    ap.add_argument("--loss", default=None, help="objectness (and class) loss by name, e.g. bce, focal, vfl; 'list' prints all "
                    "(see --set obj_loss= / cls_loss=)")
    ap.add_argument("--seed", type=int, default=0, help="global training seed")
    ap.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                    help="any other hyperparameter, e.g. anchor_t=3.0 (repeatable: every --set counts)")
    return ap


def train_overrides(a: argparse.Namespace) -> dict:
    """Merge hyp file < flags < --set into ultralytics overrides; extension keys are validated before the dataset
    is resolved (``--data synth`` generates it).

    Raises:
        ConfigError: a bad --set item, --hyp file or extension value (naming it).
    """
    if a.resume:
        ov = {"resume": a.resume if a.resume is True else str(Path(a.resume).resolve())}
        ov.update(parse_set(a.set))
        return validate(ov, warn=_quiet)
    if a.weights and not Path(a.weights).is_file():  # checked before --data synth generates anything
        raise FileNotFoundError(f"--weights: checkpoint not found: {a.weights} (nothing is downloaded: give a local .pt)")
    ov = load_hyp(a.hyp) if a.hyp else {}
    if a.assigner:
        ov["assigner"] = a.assigner
    if a.loss:
        ov["obj_loss"] = ov["cls_loss"] = a.loss
    ov.update(parse_set(a.set))
    ov = validate(ov, warn=_quiet)  # the trainer validates again and warns; here: fail before any data is built
    ov.update(
        model=str(resolve_model_cfg(a.cfg)),
        data=resolve_data(a.data),
        epochs=a.epochs,
        batch=a.batch_size,
        imgsz=a.imgsz,
        device=a.device,
        workers=a.workers,
        seed=a.seed,
        **run_dir_overrides(a),
    )
    if a.weights:
        ov["pretrained"] = str(Path(a.weights).resolve())
    return ov


def _quiet(_msg: str) -> None:
    pass


def train_main(argv=None):
    """``train.py``: a bad setting exits with status 2 and one line naming it, before anything is built."""
    a = train_parser().parse_args(argv)
    if a.assigner == "list" or a.loss == "list":
        print(describe_assigners() if a.assigner == "list" else describe_losses())
        return None
    try:
        overrides = train_overrides(a)
        trainer = AnchorTrainer(overrides=overrides)
    except (ConfigError, FileNotFoundError, SyntaxError, DirLockError) as e:  # SyntaxError: ultralytics' unknown key
        fail("train.py", e)
    trainer.train()
    return trainer


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
