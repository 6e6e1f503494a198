"""The criterion's settings, read once from the run args into frozen, typed records.

``CriterionConfig.from_args(args)`` and ``BalanceConfig.from_args(args)`` take the run args as the trainer has them
(a namespace) or as a checkpoint has them (after ultralytics' ``strip_optimizer``, ``model.args`` is a plain
dict); a key that is absent gets its default (``yolo_ext.config.defaults``: extension keys, YOLOv5's box / cls
gains; ultralytics' for ``imgsz``). Every extension value goes through the project's one ``yolo_ext.config.validate``
(types, ranges, combinations; ``ConfigError`` naming the key and the value), so a record never holds a value the
trainer would have refused.

The one setting read at call time is ``obj_gain_scale`` (:func:`obj_gain_scale`): ``adapt_obj_gain`` rewrites it in
the run args once an epoch, and the EMA model's criterion (validation losses) must use the current value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Mapping

import torch
from ultralytics.utils import DEFAULT_CFG_DICT

from ..assign import assigner_params
from ..config.defaults import CRITERION_DEFAULTS, YOLOV5_OVERRIDES, ext_defaults
from ..config.errors import ConfigError
from ..config.validate import validate
from ..losses import LOSSES, get_loss

POS_WEIGHT_KEYS = {"obj": "obj_pw", "cls": "cls_pos_weight"}
_MISSING = object()


def read(args, key: str, default=_MISSING):
    """Value of ``key`` in the run args (namespace or dict), else ``default``, else the project default."""
    value = args.get(key, _MISSING) if isinstance(args, Mapping) else getattr(args, key, _MISSING)
    if value is not _MISSING:
        return value
    if default is not _MISSING:
        return default
    defaults = {"imgsz": DEFAULT_CFG_DICT["imgsz"], **YOLOV5_OVERRIDES, **ext_defaults()}
    if key not in defaults:
        raise KeyError(f"run args have no {key!r} and it has no default")
    return defaults[key]


def obj_gain_scale(args) -> float:
    """The current objectness gain multiplier (``obj_gain_scale``, written back by ``adapt_obj_gain``); read at call
    time (validated with the rest at construction)."""
    value = float(read(args, "obj_gain_scale", CRITERION_DEFAULTS["obj_gain_scale"]))
    if not value > 0:  # adapt_obj_gain or a user edit of the args: never a silent negative gain
        raise ConfigError(f"obj_gain_scale={value!r}: must be > 0")
    return value


def checked_settings(args) -> Dict[str, object]:
    """Every extension key of ``args`` (namespace or dict; absent keys take their defaults), through the one
    ``yolo_ext.config.validate``: converted to canonical types, ranges and combinations checked (ConfigError)."""
    return validate({k: read(args, k) for k in ext_defaults()}, warn=lambda _msg: None)


@dataclass(frozen=True)
class LossChoice:
    """One of the criterion's two losses (objectness or class), resolved.

    Attributes:
        name: key of ``LOSSES``.
        params: the parameters bound (``{name}_{param}`` keys without the prefix, ``pos_weight`` included when
            the loss takes one).
        norm: the normalisation, one of ``NORM_MODES`` (``auto`` already resolved).
        soft_targets: the spec's ``soft_targets`` (IoU-quality class targets).
    """

    name: str
    params: Dict[str, object]
    norm: str
    soft_targets: bool

    @classmethod
    def from_settings(cls, values: Mapping, role: str) -> "LossChoice":
        """``role`` 'obj' or 'cls' from validated settings: ``{role}_loss``, ``{role}_norm``, its pos-weight key and
        the ``{name}_*`` parameters."""
        name = values[f"{role}_loss"]
        spec = LOSSES[name]
        params = {p: values[f"{name}_{p}"] for p in spec.params if p != "pos_weight"}
        if spec.takes_pos_weight:
            params["pos_weight"] = values[POS_WEIGHT_KEYS[role]]
        norm = values[f"{role}_norm"]
        return cls(name, params, spec.default_norm if norm == "auto" else norm, spec.soft_targets)

    def build(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The elementwise loss with its parameters bound: ``fn(logits, target) -> loss``, shapes as ``losses``."""
        return get_loss(self.name, **self.params)


@dataclass(frozen=True)
class BalanceConfig:
    """Loss-balance settings: ``balance_target`` (weighted box:obj ratio, > 0) and ``adapt_obj_gain``."""

    target: float
    adapt: bool

    @classmethod
    def from_args(cls, args, values: Mapping = None) -> "BalanceConfig":
        """From the run args (validated here), or from settings ``values`` already validated."""
        values = checked_settings(args) if values is None else values
        return cls(values["balance_target"], values["adapt_obj_gain"])


@dataclass(frozen=True)
class CriterionConfig:
    """Everything ``YOLOv5Criterion`` reads from the run args, typed (see the module docstring).

    Gains are before YOLOv5's scaling (:func:`scaled_gains`); ``imgsz`` is the longest training side in pixels;
    ``cls_label_smoothing`` is YOLOv5's smooth_BCE epsilon (class targets ``1 - eps/2`` / ``eps/2``).
    """

    box: float
    obj: float
    cls: float
    imgsz: float
    scale_gains: bool
    assigner: str
    assigner_params: Dict[str, object]
    assigner_warmup: str
    assigner_warmup_epochs: int
    gr: float
    cls_label_smoothing: float
    obj_loss: LossChoice
    cls_loss: LossChoice
    obj_norm_gain: float
    ohem: bool
    ohem_ratio: float
    ohem_min_neg: int
    assign_weight_box: bool
    assign_weight_obj: bool
    autobalance: bool
    balance: BalanceConfig

    @classmethod
    def from_args(cls, args) -> "CriterionConfig":
        """Read every criterion setting of ``args`` (namespace or dict) once, through ``validate`` (ConfigError)."""
        v = checked_settings(args)
        imgsz = read(args, "imgsz")
        imgsz = max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz
        flags = ("scale_gains", "ohem", "assign_weight_box", "assign_weight_obj", "autobalance")
        numbers_ = ("obj", "gr", "cls_label_smoothing", "obj_norm_gain", "ohem_ratio", "ohem_min_neg")
        return cls(
            box=float(read(args, "box")),  # ultralytics keys (checked by its get_cfg)
            cls=float(read(args, "cls")),
            imgsz=float(imgsz),
            assigner=v["assigner"],
            assigner_warmup=v["assigner_warmup"],
            assigner_warmup_epochs=v["assigner_warmup_epochs"],
            assigner_params={k: v[k] for k in assigner_params()},
            obj_loss=LossChoice.from_settings(v, "obj"),
            cls_loss=LossChoice.from_settings(v, "cls"),
            balance=BalanceConfig.from_args(args, v),
            **{k: v[k] for k in flags + numbers_},
        )


def scaled_gains(config: CriterionConfig, nl: int, nc: int) -> Dict[str, float]:
    """box/obj/cls gains after YOLOv5 train.py's scaling by levels, classes and image size (if ``scale_gains``)."""
    box, obj, cls = config.box, config.obj, config.cls
    if config.scale_gains:
        box *= 3 / nl
        cls *= nc / 80 * 3 / nl
        obj *= (float(config.imgsz) / 640) ** 2 * 3 / nl
    return {"box": box, "obj": obj, "cls": cls}
