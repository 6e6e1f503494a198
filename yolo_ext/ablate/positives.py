"""Positives per face of a finished run: the run's own criterion and assigner (its last epoch's, not a warm-up one) on
its final weights' predictions over the training images, letterboxed without augmentation.

The epoch counters in ``train.log`` (``epoch stats: positives=..., targets=...``) say how many positives a run made
per target during training, but only for runs trained after the ``targets`` counter existed, and over augmented
(mosaic) images. This measures the same quantity offline for any finished ablation run directory
(``<out>/runs/<name>-s<seed>/``):

- the model is ``weights/last.pt`` loaded as ultralytics loads a checkpoint (``load_checkpoint``: the EMA weights,
  float32, eval mode) with the run's full settings (``{the trainer's defaults, the checkpoint's train_args, the run's
  ablate_config.json}``), so the criterion has the run's assigner, its parameters and its warm-up;
- ``model.assign_epoch`` is the run's last epoch (``epochs - 1``), so the assigner is the one of the final epoch;
- the images are the data's TRAIN split, built by ultralytics' ``build_yolo_dataset`` in evaluation mode
  (``augment=False``, ``rect=False``: the long side resized to ``imgsz``, then letterboxed to ``imgsz`` x ``imgsz``);
- the forward (only for an assigner that reads predictions) runs in eval mode (BatchNorm's running statistics, as at inference), whose second output is the
  training-format head output; ``YOLOv5Criterion.assign`` then runs the assigner, so the prediction-aware assigners
  (``tal``, ``simota``, ``atss`` -> ``tal``) see the final weights' decoded boxes and scores. During training they saw
  the training model's predictions on augmented images instead: this is the final model's view, not an average over
  training. With an auxiliary head only the lead head's assignment is counted (as the epoch counters do).

Returns faces (ground-truth boxes), positives (rows of every level's assignment, duplicates included, as the loss
sees them), positives per face, the fraction of faces that got no positive and each level's share of the positives.

``cached_positives`` stores the result in the run directory (``positives.json``, atomically), keyed by last.pt's
size and modification time and the measurement's settings, so the claims report computes it once per run and a
retrained run recomputes it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from ultralytics.cfg import DEFAULT_CFG_DICT
from ultralytics.data import build_yolo_dataset
from ultralytics.data.utils import check_det_dataset
from ultralytics.nn.tasks import load_checkpoint
from ultralytics.utils import IterableSimpleNamespace

from ..config.defaults import trainer_base_cfg
from ..config.errors import ConfigError
from ..criterion import YOLOv5Criterion
from ..engine.model import AnchorDetectionModel
from ..utils.files import atomic_write

CACHE = "positives.json"
CACHE_VERSION = 1
CONFIG = "ablate_config.json"
WEIGHTS = Path("weights") / "last.pt"


class PositivesError(ValueError):
    """A run directory that lacks what the measurement needs; the message names the file."""


def _run_settings(run_dir: Path) -> dict:
    path = run_dir / CONFIG
    if not path.is_file():
        raise PositivesError(f"{path}: missing (the run's trainer overrides; is {run_dir} an ablation run directory?)")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PositivesError(f"{path}: cannot read: {e}") from e
    if not isinstance(cfg, dict) or not cfg.get("data"):
        raise PositivesError(f"{path}: expected a JSON object with the run's 'data'")
    return cfg


def load_run(run_dir) -> tuple:
    """``(model, settings)`` of a finished run: last.pt's model (eval, float32, CPU) whose ``args`` are the run's
    settings, ``assign_epoch`` its last epoch. PositivesError names the missing or unreadable file."""
    run_dir = Path(run_dir)
    cfg = _run_settings(run_dir)
    weights = run_dir / WEIGHTS
    if not weights.is_file():
        raise PositivesError(f"{weights}: missing (the run's final weights)")
    try:
        model, ckpt = load_checkpoint(weights, device="cpu")
    except Exception as e:  # unpickling errors come in many types; name the file
        raise PositivesError(f"{weights}: cannot load: {type(e).__name__}: {e}") from e
    if not hasattr(model, "head") or not hasattr(model.head, "anchor_px"):
        raise PositivesError(f"{weights}: not an anchor-based yolo-ext model ({type(model).__name__})")
    return _with_settings(model, {**(ckpt.get("train_args") or {}), **cfg})


def _with_settings(model, overrides: dict) -> tuple:
    """``(model, settings)``: the trainer's defaults under ``overrides`` as ``model.args``, ``assign_epoch`` the last
    epoch (the final epoch's assigner, not a warm-up one), float32, eval."""
    settings = {**trainer_base_cfg(DEFAULT_CFG_DICT), **overrides}
    model.args = settings
    model.assign_epoch = max(int(settings.get("epochs") or 1) - 1, 0)
    return model.float().eval(), settings


def _measure(model, settings: dict, images, batch: int, imgsz=None) -> dict:
    """``count_positives`` over the settings' data's train split at ``imgsz`` (default the settings')."""
    imgsz = int(imgsz or settings.get("imgsz") or 640)
    stride = int(max(float(s) for s in model.head.stride))
    batches = train_loader(str(settings["data"]), imgsz, batch, images, stride)
    return {**count_positives(model, batches), "imgsz": imgsz}


def train_loader(data_yaml: str, imgsz: int, batch: int = 16, images: int | None = None, stride: int = 32):
    """Ultralytics batch dicts of the data's train split, letterboxed to ``imgsz`` without augmentation (the first
    ``images`` images, or all)."""
    data = check_det_dataset(data_yaml, autodownload=False)
    cfg = IterableSimpleNamespace(**{**DEFAULT_CFG_DICT, "imgsz": imgsz, "rect": False, "cache": False,
                                     "fraction": 1.0, "task": "detect", "classes": None})
    ds = build_yolo_dataset(cfg, data["train"], batch, data, mode="val", rect=False, stride=stride)
    n = len(ds) if images is None else min(int(images), len(ds))
    for start in range(0, n, batch):
        yield ds.collate_fn([ds[i] for i in range(start, min(start + batch, n))])


@torch.no_grad()
def count_positives(model, batches) -> dict:
    """Assign every batch with the model's criterion (lead head) on its predictions; per-face counts vectorised.
    The forward pass runs only for an assigner that reads predictions (``needs_preds``: tal, simota, ignore, ...);
    the others see the level grids of the letterboxed input, which is all they read."""
    crit = YOLOv5Criterion(model)
    head = model.head
    anchors, strides = head.anchor_px.float(), head.stride.float()
    per_face, per_level, images = [], torch.zeros(head.nl, dtype=torch.int64), 0
    blind = not crit.needs_preds  # an assigner that reads no prediction needs only the grid shapes: no forward
    for batch in batches:
        img = batch["img"].float() / 255.0
        h, w = img.shape[2:]
        if blind and all(h % int(s) == 0 and w % int(s) == 0 for s in strides):
            maps = [img.new_empty(img.shape[0], head.na, h // int(s), w // int(s), 0) for s in strides]
        else:
            out = model(img)
            raw = out[1] if isinstance(out, (tuple, list)) else out
            maps = [m.float() for m in raw["preds"]]
        targets = crit.targets(batch, img.device)
        shapes = [tuple(m.shape[2:4]) for m in maps]
        assignment = crit.assign(maps, targets, shapes, anchors, strides)
        rows = [lv.t for lv in assignment.levels]
        per_level += torch.tensor([r.numel() for r in rows])
        per_face.append(torch.bincount(torch.cat(rows), minlength=targets.shape[0]))
        images += img.shape[0]
    counts = torch.cat(per_face) if per_face else torch.zeros(0, dtype=torch.int64)
    faces, positives = int(counts.numel()), int(per_level.sum())
    return {
        "images": images,
        "faces": faces,
        "positives": positives,
        "positives_per_face": positives / faces if faces else math.nan,
        "no_positive": float((counts == 0).double().mean()) if faces else math.nan,
        "level_share": [int(x) / positives if positives else math.nan for x in per_level],
        "assigner": getattr(crit.current_assigner(), "spec", crit.config.assigner),
    }


def positives_per_face(run_dir, images: int | None = None, imgsz: int | None = None, batch: int = 16) -> dict:
    """Faces, positives, positives per face, fraction of faces without a positive and per-level share of a finished
    run (see the module docstring); ``imgsz`` defaults to the run's, ``images`` to every training image."""
    run_dir = Path(run_dir)
    model, settings = load_run(run_dir)
    try:
        return _measure(model, settings, images, batch, imgsz)
    except (FileNotFoundError, ConfigError) as e:
        raise PositivesError(f"{run_dir / CONFIG}: {e}") from e


def _key(run_dir: Path, images, imgsz) -> dict:
    st = (run_dir / WEIGHTS).stat()
    return {"version": CACHE_VERSION, "weights_size": st.st_size, "weights_mtime_ns": st.st_mtime_ns,
            "images": images, "imgsz": imgsz}


def cached_positives(run_dir, images: int | None = None, imgsz: int | None = None) -> dict:
    """:func:`positives_per_face`, computed once per run: stored in ``<run_dir>/positives.json`` (atomically) and
    reused while last.pt (size, mtime) and the settings are the same. PositivesError as the measurement."""
    run_dir = Path(run_dir)
    if not (run_dir / WEIGHTS).is_file():
        raise PositivesError(f"{run_dir / WEIGHTS}: missing (the run's final weights)")
    key = _key(run_dir, images, imgsz)
    path = run_dir / CACHE
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["result"]
    except (OSError, ValueError, AttributeError, KeyError):
        pass  # absent or unreadable: recompute
    result = positives_per_face(run_dir, images=images, imgsz=imgsz)
    atomic_write(path, json.dumps({"key": key, "result": result}, indent=1) + "\n")
    return result


def static_positives(config: dict, data_yaml: str, images: int | None = None, batch: int = 16) -> dict | None:
    """Positives per face of a configuration without a trained run, for an assigner that reads no prediction
    (``yolov5``, ``radius``, ``distance``, ``dedup``, ``atss``, ``maxiou``, ...: its positives depend only on the
    anchors, the grid and the faces, so the weights do not matter): the model is built from the configuration's YAML.
    None for an assigner that reads predictions (those need the run's final weights: ``positives_per_face``).
    ``config``: the run's trainer overrides (``RunSpec.config``); the same counts as ``count_positives``."""
    data = check_det_dataset(data_yaml, autodownload=False)
    model = AnchorDetectionModel(str(config["model"]), nc=data["nc"], ch=data.get("channels", 3), verbose=False)
    model, settings = _with_settings(model, {**config, "data": data_yaml})
    if YOLOv5Criterion(model).needs_preds:
        return None
    return _measure(model, settings, images, batch)
