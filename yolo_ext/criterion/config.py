"""The criterion's settings, read once from the run args into frozen, typed records.

``CriterionConfig.from_args(args)`` and ``BalanceConfig.from_args(args)`` take the run args as the trainer has them
(a namespace) or as a checkpoint has them (after ultralytics' ``strip_optimizer``, ``model.args`` is a plain
dict); a key that is absent gets its default (``yolo_ext.config.defaults``: extension keys, YOLOv5's box / cls
gains; ultralytics' for ``imgsz``). Values are type-checked and converted here, and the combinations the criterion
depends on are checked, with errors that name the key and the value:

- booleans are ``True`` / ``False`` only (a string such as ``"false"`` is an error, never "on");
- numbers are ints or floats (not bools, not strings); integer keys must hold an integral value;
- loss names are keys of ``LOSSES``, norms ``auto`` or one of ``NORM_MODES``; loss parameters are range-checked
  by the loss itself (``get_loss``), and a loss without a ``pos_weight`` accepts only ``obj_pw`` /
  ``cls_pos_weight`` = 1;
- ``autobalance`` needs ``obj_norm`` = mean; ``balance_target`` and ``obj_gain_scale`` are > 0.

Range checks of every key (``0 < ignore_iou < 1``, ...) belong to ``yolo_ext.config``'s one ``validate()``.

The one setting read at call time is ``obj_gain_scale`` (:func:`obj_gain_scale`): ``adapt_obj_gain`` rewrites it in
the run args once an epoch, and the EMA model's criterion (validation losses) must use the current value.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable, Dict, Mapping

import torch
from ultralytics.utils import DEFAULT_CFG_DICT

from ..assign import ASSIGNER_PARAMS
from ..config.defaults import CRITERION_DEFAULTS, YOLOV5_OVERRIDES, ext_defaults
from ..losses import LOSSES, NORM_MODES, get_loss

NORM_CHOICES = ("auto",) + NORM_MODES  # 'auto' = the loss's LossSpec.default_norm
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


def as_bool(key: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{key}={value!r}: expected true or false")
    return value


def as_float(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key}={value!r}: expected a number")
    return float(value)


def as_int(key: str, value) -> int:
    if not as_float(key, value).is_integer():
        raise ValueError(f"{key}={value!r}: expected an integer")
    return int(value)


def as_choice(key: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{key}={value!r}: valid are {', '.join(choices)}")
    return value


def positive(key: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{key}={value!r}: must be > 0")
    return value


def convert_like(key: str, value, default):
    """Convert ``value`` to the type of ``default`` (bool, int or float; anything else is passed through)."""
    if isinstance(default, bool):
        return as_bool(key, value)
    if isinstance(default, numbers.Integral):
        return as_int(key, value)
    if isinstance(default, numbers.Real):
        return as_float(key, value)
    return value


def obj_gain_scale(args) -> float:
    """The current objectness gain multiplier (``obj_gain_scale``, written back by ``adapt_obj_gain``)."""
    value = read(args, "obj_gain_scale", CRITERION_DEFAULTS["obj_gain_scale"])
    return positive("obj_gain_scale", as_float("obj_gain_scale", value))


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
    def from_args(cls, args, role: str) -> "LossChoice":
        """``role`` 'obj' or 'cls': reads ``{role}_loss``, ``{role}_norm``, its pos-weight key and ``{name}_*``."""
        name = as_choice(f"{role}_loss", read(args, f"{role}_loss"), tuple(LOSSES))
        spec = LOSSES[name]
        params = {p: convert_like(f"{name}_{p}", read(args, f"{name}_{p}", v), v)
                  for p, v in spec.params.items() if p != "pos_weight"}
        pw_key = POS_WEIGHT_KEYS[role]
        pw = as_float(pw_key, read(args, pw_key))
        if spec.takes_pos_weight:
            params["pos_weight"] = pw
        elif pw != 1:
            raise ValueError(f"{pw_key}={pw!r}: {role}_loss={name!r} takes no pos_weight (only 1 is allowed)")
        norm = as_choice(f"{role}_norm", read(args, f"{role}_norm"), NORM_CHOICES)
        choice = cls(name, params, spec.default_norm if norm == "auto" else norm, spec.soft_targets)
        try:
            choice.build()  # range checks of the loss's own parameters
        except ValueError as e:
            keys = [f"{name}_{p}" for p in params if p != "pos_weight"] + [pw_key]
            raise ValueError(f"{role}_loss={name!r}: {e} (settings keys: {', '.join(keys)})") from e
        return choice

    def build(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The elementwise loss with its parameters bound: ``fn(logits, target) -> loss``, shapes as ``losses``."""
        return get_loss(self.name, **self.params)


@dataclass(frozen=True)
class BalanceConfig:
    """Loss-balance settings: ``balance_target`` (weighted box:obj ratio, > 0) and ``adapt_obj_gain``."""

    target: float
    adapt: bool

    def __post_init__(self):
        positive("balance_target", self.target)

    @classmethod
    def from_args(cls, args) -> "BalanceConfig":
        return cls(as_float("balance_target", read(args, "balance_target")),
                   as_bool("adapt_obj_gain", read(args, "adapt_obj_gain")))


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

    def __post_init__(self):
        if self.autobalance and self.obj_loss.norm != "mean":
            raise ValueError(
                f"autobalance adapts per-level means; it does not apply to obj_norm={self.obj_loss.norm!r}")

    @classmethod
    def from_args(cls, args) -> "CriterionConfig":
        """Read, convert and check every criterion setting of ``args`` (namespace or dict) once."""
        # (yolo_ext.config's validate(), the range checks of every key, is meant to run here first.)
        imgsz = read(args, "imgsz")
        imgsz = max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz
        flags = ("scale_gains", "ohem", "assign_weight_box", "assign_weight_obj", "autobalance")
        numbers_ = ("box", "obj", "cls", "gr", "cls_label_smoothing", "obj_norm_gain", "ohem_ratio")
        obj_gain_scale(args)  # fail at construction, not at the first batch
        return cls(
            imgsz=as_float("imgsz", imgsz),
            assigner=read(args, "assigner"),
            assigner_params={k: read(args, k) for k in ASSIGNER_PARAMS},
            obj_loss=LossChoice.from_args(args, "obj"),
            cls_loss=LossChoice.from_args(args, "cls"),
            ohem_min_neg=as_int("ohem_min_neg", read(args, "ohem_min_neg")),
            balance=BalanceConfig.from_args(args),
            **{k: as_bool(k, read(args, k)) for k in flags},
            **{k: as_float(k, read(args, k)) for k in numbers_},
        )


def scaled_gains(config: CriterionConfig, nl: int, nc: int) -> Dict[str, float]:
    """box/obj/cls gains after YOLOv5 train.py's scaling by levels, classes and image size (if ``scale_gains``)."""
    box, obj, cls = config.box, config.obj, config.cls
    if config.scale_gains:
        box *= 3 / nl
        cls *= nc / 80 * 3 / nl
        obj *= (float(config.imgsz) / 640) ** 2 * 3 / nl
    return {"box": box, "obj": obj, "cls": cls}
