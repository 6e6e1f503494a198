"""The loss registry: one :class:`LossSpec` per name in :data:`LOSSES`, ``get_loss`` and ``describe_losses``.

Adding a loss is one function and one dict entry::

    def my_loss(pred, target, tau=1.0):          # elementwise, shapes as in ``functions``
        ...
    LOSSES["mine"] = LossSpec(my_loss, {"tau": 1.0}, default_norm="pos", soft_targets=False)

Everything else reads the entry when it is used, so a loss registered at any time is picked up: the settings
keys ``{name}_{param}`` (``yolo_ext.config.defaults.loss_param_defaults``, here ``mine_tau``), the criterion's
normalisation under ``obj_norm=auto`` / ``cls_norm=auto`` and its class targets, ``--loss list``
(:func:`describe_losses`), the test sweeps over every loss and the ablation-plan checks.

``pos_weight`` is special: it is not a ``{name}_pos_weight`` key but comes from ``obj_pw`` / ``cls_pos_weight``
(YOLOv5's names); a loss that does not list ``pos_weight`` in its params accepts only the default 1.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Callable, Dict

import torch

from .functions import bce, focal, qfl, vfl
from .reduce import NORM_MODES


@dataclass(frozen=True)
class LossSpec:
    """What the rest of the project needs to know about one loss.

    Attributes:
        fn: ``fn(pred, target, **params) -> Tensor``: logits and targets of one shape S (targets in [0, 1]),
            the loss per element, shape S, in nats, no reduction.
        params: every keyword parameter ``fn`` takes, with its default (``pos_weight`` included when ``fn``
            takes one). A plain dict copied at construction: treat it as read-only.
        default_norm: the normalisation the loss is designed for (one of ``NORM_MODES``), used when the
            criterion's ``obj_norm`` / ``cls_norm`` is ``auto`` (see ``reduce.py`` for why it matters).
        soft_targets: as a class loss, train against IoU-quality targets (one-hot times the positive's IoU,
            as GFL's QFL and VarifocalNet do) instead of YOLOv5's smoothed one-hot targets. Objectness targets
            are the IoU-based YOLOv5 target for every loss.
        description: one phrase for ``--loss list``.
    """

    fn: Callable[..., torch.Tensor]
    params: Dict[str, object]
    default_norm: str
    soft_targets: bool = False
    description: str = ""

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"LossSpec.fn must be callable, got {type(self.fn).__name__}")
        if self.default_norm not in NORM_MODES:
            raise ValueError(f"LossSpec.default_norm={self.default_norm!r}; valid modes: {', '.join(NORM_MODES)}")
        if not isinstance(self.soft_targets, bool):
            raise TypeError(f"LossSpec.soft_targets must be a bool, got {self.soft_targets!r}")
        object.__setattr__(self, "params", dict(self.params))
        sig = inspect.signature(self.fn).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.values()):
            missing = sorted(set(self.params) - set(sig))
            if missing:
                sig_text = f"{getattr(self.fn, '__name__', 'fn')}{inspect.signature(self.fn)}"
                raise TypeError(f"LossSpec.params {missing} are not parameters of {sig_text}")

    @property
    def takes_pos_weight(self) -> bool:
        """Whether ``fn`` has a ``pos_weight`` parameter (set from ``obj_pw`` / ``cls_pos_weight``)."""
        return "pos_weight" in self.params


# name -> spec. The one registry of losses: add a loss here.
LOSSES: Dict[str, LossSpec] = {
    "bce": LossSpec(bce, {"pos_weight": 1.0}, "mean", description="binary cross-entropy (YOLOv5)"),
    "focal": LossSpec(  # YOLOv5 fl_gamma 1.5; RetinaNet alpha
        focal, {"gamma": 1.5, "alpha": 0.25, "pos_weight": 1.0}, "pos", description="focal loss (Lin et al. 2017)"),
    "qfl": LossSpec(  # GFL paper
        qfl, {"beta": 2.0, "pos_weight": 1.0}, "pos", soft_targets=True,
        description="quality focal loss (GFL, Li et al. 2020)"),
    "vfl": LossSpec(  # VarifocalNet paper
        vfl, {"alpha": 0.75, "gamma": 2.0, "pos_weight": 1.0}, "pos", soft_targets=True,
        description="varifocal loss (VarifocalNet, Zhang et al. 2021)"),
}


def loss_spec(name: str) -> LossSpec:
    """``LOSSES[name]``, or a ``ValueError`` listing the valid names."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]


def get_loss(name: str, **params) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Return ``LOSSES[name].fn`` with its default params overridden by ``params`` bound.

    The result is a ``functools.partial``: call it as ``fn(pred, target)``; its ``.keywords`` holds the full
    parameter set actually used.

    Raises:
        ValueError: unknown name (lists valid names), unknown parameter (lists valid parameters for that loss),
            or a parameter out of range.
    """
    spec = loss_spec(name)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for loss {name!r}; "
            f"valid parameters: {', '.join(sorted(spec.params)) or 'none'}"
        )
    bound = {**spec.params, **params}
    # Range checks fire here, at construction, not in the first training step:
    # a dry run on one element runs the loss's own checks on the scalar parameters.
    dry = dict(bound)
    pw = bound.get("pos_weight")
    if torch.is_tensor(pw):
        if not bool((pw > 0).all()):
            raise ValueError(f"loss parameter pos_weight={pw} must be > 0 everywhere")
        dry["pos_weight"] = 1.0
    spec.fn(torch.zeros(1), torch.zeros(1), **dry)
    return functools.partial(spec.fn, **bound)


def describe_losses() -> str:
    """One line per registered loss: name, default normalisation, class targets, parameters with defaults.

    Parameters are shown by their settings keys (``focal_gamma=1.5``: ``--set focal_gamma=2``); ``pos_weight``
    comes from ``obj_pw`` / ``cls_pos_weight``.
    """
    width = max(map(len, LOSSES))
    lines = []
    for name, spec in LOSSES.items():
        params = [f"{name}_{k}={v}" for k, v in spec.params.items() if k != "pos_weight"]
        params += ["pos_weight"] if spec.takes_pos_weight else []
        targets = "soft (IoU) class targets" if spec.soft_targets else "hard class targets"
        line = f"{name:<{width}}  norm {spec.default_norm:<10}  {targets:<24}  [{', '.join(params)}]"
        lines.append(line + (f"  {spec.description}" if spec.description else ""))
    return "\n".join(lines)
