"""Hyperparameters from the command line and from files: ``--set key=value`` items and ``--hyp`` YAMLs (ours, or an
unmodified hyp file of the ultralytics/yolov5 repository, translated key by key to its exact YOLOv5 meaning)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml

from .errors import ConfigError


def parse_set(items: list[str]) -> dict:
    """``["k=v", ...]`` -> dict, values parsed as YAML scalars (``0.5``, ``true``, ``[1,2]``, ``radius``).

    Every item counts (``--set a=1 --set b=2`` gives both); a key given twice keeps its last value. An empty value
    (``anchor_t=``) is ``None`` (``validate`` rejects it for keys that need a value).

    Raises:
        ConfigError: an item without ``=`` or key, or a value that is not valid YAML (naming the item).
    """
    out = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {key.strip()}={value}: not a valid YAML value ({type(e).__name__}: "
                              f"{str(e).splitlines()[0]})") from None
    return out


def load_hyp(path: str | Path, report: Callable[[str], None] | None = print) -> dict:
    """Hyperparameter YAML -> dict; a YOLOv5 hyp file (:func:`is_yolov5_hyp`) is translated (:func:`translate_yolov5_hyp`)
    and each translation is passed to ``report`` (default: printed; None: silent).

    Raises:
        ConfigError: the file is missing, not YAML, or not a mapping (naming the file).
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--hyp: file not found: {p}")
    try:
        d = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"--hyp {p}: not valid YAML: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"--hyp {p}: expected a mapping of hyperparameters, got {type(d).__name__}")
    if not is_yolov5_hyp(d):
        return d
    out, notes = translate_yolov5_hyp(d, str(p))
    for n in notes if report else ():
        report(f"--hyp {p} (a YOLOv5 hyp file): {n}")
    return out


# Keys that only YOLOv5's hyp files have (every official data/hyps/hyp.*.yaml sets both); ultralytics and yolo-ext
# know neither, so their presence identifies a YOLOv5 file.
YOLOV5_ONLY = ("fl_gamma", "iou_t")


def is_yolov5_hyp(d: dict) -> bool:
    """True for a hyp dict of the ultralytics/yolov5 repository (it sets ``fl_gamma`` or ``iou_t``)."""
    return any(k in d for k in YOLOV5_ONLY)


def translate_yolov5_hyp(d: dict, source: str = "hyp") -> tuple[dict, list[str]]:
    """A YOLOv5 hyp dict in yolo-ext / ultralytics keys with YOLOv5's exact meanings (Jocher et al., ultralytics/yolov5
    ``train.py``, ``utils/loss.py``), and one note per translated key.

    - ``fl_gamma > 0``: YOLOv5 wraps both BCE losses (objectness and class) in ``FocalLoss(gamma=fl_gamma, alpha=0.25)``
      with mean reduction -> ``obj_loss = cls_loss = focal``, ``focal_gamma = fl_gamma``, ``focal_alpha = 0.25``,
      ``obj_norm = cls_norm = mean`` (equal to YOLOv5's numbers); ``fl_gamma = 0``: plain BCE, nothing to set.
    - ``cls_pw``: YOLOv5's class BCE ``pos_weight`` -> ``cls_pos_weight`` (ultralytics' own ``cls_pw`` means
      class-frequency weighting, a different thing); ``obj_pw``: the same key and meaning here.
    - ``anchors`` (anchors per level, where a file sets it): YOLOv5 replaces the model's anchors by that many and lets
      autoanchor fit them; here the anchors come from the model YAML, so the key is dropped with a note (fit anchors
      with ``python -m yolo_ext.anchors --evolve``; YAMLs with 1 or 3 per level are bundled).
    - ``iou_t``: read by nothing in YOLOv5's training (only its comment says "IoU training threshold"): dropped, noted.
    - every other key (``lr0`` ... ``copy_paste``, ``box``, ``cls``, ``obj``, ``anchor_t``) has the same name and
      meaning in ultralytics / yolo-ext and passes through.
    """
    out, notes = dict(d), []
    g = out.pop("fl_gamma", 0.0)
    if g is not None and float(g) > 0:
        out.update(obj_loss="focal", cls_loss="focal", focal_gamma=float(g), focal_alpha=0.25, obj_norm="mean",
                   cls_norm="mean")
        notes.append(f"fl_gamma={g} -> obj_loss=cls_loss=focal, focal_gamma={float(g)}, focal_alpha=0.25, "
                     "obj_norm=cls_norm=mean (YOLOv5's FocalLoss around both BCEs, mean reduction)")
    elif g is not None:
        notes.append(f"fl_gamma={g} -> plain BCE (the default; nothing to set)")
    if "cls_pw" in out:
        out["cls_pos_weight"] = out.pop("cls_pw")
        notes.append(f"cls_pw={out['cls_pos_weight']} -> cls_pos_weight (YOLOv5's class BCE pos_weight; ultralytics' "
                     "cls_pw, class-frequency weighting, stays at its default)")
    if "obj_pw" in out:
        notes.append(f"obj_pw={out['obj_pw']} -> obj_pw (same meaning: objectness BCE pos_weight)")
    if "anchors" in out:
        n = out.pop("anchors")
        notes.append(f"anchors={n} (anchors per level): not applied; YOLOv5 would re-create and autoanchor-fit the "
                     "model's anchors, here they come from the model YAML (fit them with `python -m yolo_ext.anchors "
                     "--evolve`)")
    if "iou_t" in out:
        notes.append(f"iou_t={out.pop('iou_t')}: accepted and unused (YOLOv5's training never reads it either)")
    return out, notes
