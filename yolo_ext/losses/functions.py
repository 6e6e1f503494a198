"""Elementwise objectness / classification losses, computed from logits.

Every loss here has the signature ``loss(pred, target, **params) -> Tensor``:

- ``pred``   logits, any shape ``S`` (e.g. ``(bs, na, ny, nx)`` objectness or
  ``(n_pos, nc)`` class logits), floating point.
- ``target`` same shape ``S``, values in ``[0, 1]`` (hard 0/1 labels or soft
  targets such as the IoU of the positive's predicted box). Not range-checked
  (that would cost a device sync per call): values outside [0, 1] are a caller bug.
- returns the loss per element, shape ``S``, no reduction, in nats.

Reduction (mean / per-positive / per-target-sum, masks, weights) lives in one
place only: :func:`yolo_ext.losses.reduce.reduce_loss`. The registry of names,
default parameters and normalisations is :data:`yolo_ext.losses.registry.LOSSES`.

Numerics. Everything is written with log-sigmoid / BCE-with-logits forms and
``1 - sigmoid(x)`` is always computed as ``sigmoid(-x)``, so values and
gradients stay finite for logits of any magnitude (tested at +-100). Powers of
quantities that can be exactly 0 at saturation (``(1 - p_t) ** gamma``,
``|y - p| ** beta``) clamp the base at the dtype's smallest normal number, so
exponents in (0, 1) do not produce ``inf * 0 = nan`` gradients; the effect on
values is below ``tiny ** exponent``.

Precision. float16 / bfloat16 inputs are computed in float32 and the loss is
returned in float32 (float32 / float64 inputs keep their dtype). Summing
hundreds of thousands of per-cell losses in half precision loses the small
negatives' contribution, so the upcast is deliberate.

``pos_weight`` (YOLOv5's ``obj_pw`` / ``cls_pw``): a positive float or a tensor
broadcastable to ``S`` (e.g. ``(nc,)`` per class). In every loss it multiplies
the ``t * log(sigmoid(x))`` term of the underlying binary cross-entropy:

- bce:   ``torch.nn.BCEWithLogitsLoss(pos_weight=..., reduction='none')``.
- focal: BCE(pos_weight) times the focal factors, as YOLOv5's ``FocalLoss``
  wrapping ``BCEWithLogitsLoss(pos_weight=...)`` does.
- qfl:   the ``y log(sigma)`` term of QFL's cross-entropy.
- vfl:   the ``q log(p)`` term of the positive branch; the negative branch
  (``q == 0``) has no such term, so pos_weight does not change it.
"""

from __future__ import annotations

from typing import Union

import torch
import torch.nn.functional as F

Number = Union[int, float]
PosWeight = Union[Number, torch.Tensor]


def _prepare(pred: torch.Tensor, target: torch.Tensor, name: str):
    """Check shapes/dtypes; return (pred, target) in the compute dtype."""
    if not torch.is_tensor(pred) or not torch.is_tensor(target):
        raise TypeError(f"{name}: pred and target must be tensors, got {type(pred).__name__}, {type(target).__name__}")
    if pred.shape != target.shape:
        raise ValueError(f"{name}: pred shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    if not pred.is_floating_point():
        raise TypeError(f"{name}: pred must be floating point logits, got {pred.dtype}")
    if pred.dtype in (torch.float16, torch.bfloat16):
        pred = pred.float()
    return pred, target.to(pred.dtype)


def _check(name: str, value, low: float, high: float = float("inf"), low_open: bool = False) -> None:
    """Range-check a python-number hyperparameter (tensors are trusted: no device sync)."""
    if torch.is_tensor(value):
        return
    bad = value <= low if low_open else value < low
    if bad or value > high:
        lo = "(" if low_open else "["
        raise ValueError(f"loss parameter {name}={value!r} outside {lo}{low}, {high}]")


def _pow(base: torch.Tensor, exponent: float) -> torch.Tensor:
    """``base ** exponent`` for base >= 0 with finite gradients at base == 0."""
    if exponent == 0:
        return torch.ones_like(base)
    return base.clamp_min(torch.finfo(base.dtype).tiny).pow(exponent)


def _check_broadcast(shape: torch.Size, target: torch.Size) -> None:
    try:
        ok = torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"pos_weight shape {tuple(shape)} does not broadcast to {tuple(target)}")


def _bce(x: torch.Tensor, t: torch.Tensor, pos_weight: PosWeight) -> torch.Tensor:
    """Stable BCE from logits: ``-(pw * t * log sigma(x) + (1 - t) * log sigma(-x))``.

    Written with ``logsigmoid`` rather than ``F.binary_cross_entropy_with_logits``:
    the built-in loses the relative precision of small losses in float32 (it returns
    0 instead of 9e-14 at x = -30, t = 0, and is 3% off at x = -11), which the focal
    factors would then multiply.
    """
    _check("pos_weight", pos_weight, 0.0, low_open=True)
    pos_term = t * F.logsigmoid(x)
    if torch.is_tensor(pos_weight):
        _check_broadcast(pos_weight.shape, x.shape)
        pos_term = pos_term * pos_weight.to(x.dtype)
    elif pos_weight != 1:
        pos_term = pos_term * pos_weight
    return -(pos_term + (1 - t) * F.logsigmoid(-x))


def bce(pred: torch.Tensor, target: torch.Tensor, pos_weight: PosWeight = 1.0) -> torch.Tensor:
    """Binary cross-entropy with logits, soft targets allowed (YOLOv5's obj/cls loss).

    Args:
        pred: logits, shape S.
        target: targets in [0, 1], shape S.
        pos_weight: weight of the positive term (YOLOv5 ``obj_pw``/``cls_pw``).

    Returns:
        Elementwise loss, shape S (nats).
    """
    x, t = _prepare(pred, target, "bce")
    return _bce(x, t, pos_weight)


def focal(
    pred: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 1.5,
    alpha: float = 0.25,
    pos_weight: PosWeight = 1.0,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection", RetinaNet),
    generalised to soft targets the way YOLOv5's ``FocalLoss`` does::

        p     = sigmoid(x)
        p_t   = t * p + (1 - t) * (1 - p)
        a_t   = t * alpha + (1 - t) * (1 - alpha)
        loss  = BCE(x, t) * a_t * (1 - p_t) ** gamma

    With ``gamma=0, alpha=0.5`` this is exactly ``0.5 * bce``. Shapes as :func:`bce`.
    Note that ``alpha`` weights positives (alpha=0.25 down-weights them, as in RetinaNet).
    """
    _check("gamma", gamma, 0.0)
    _check("alpha", alpha, 0.0, 1.0)
    x, t = _prepare(pred, target, "focal")
    p, q = torch.sigmoid(x), torch.sigmoid(-x)  # q = 1 - p without cancellation
    one_minus_pt = t * q + (1 - t) * p
    alpha_t = (1 - alpha) + t * (2 * alpha - 1)  # == t*alpha + (1-t)*(1-alpha); exact 0.5 at alpha=0.5
    return _bce(x, t, pos_weight) * alpha_t * _pow(one_minus_pt, gamma)


def qfl(pred: torch.Tensor, target: torch.Tensor, beta: float = 2.0, pos_weight: PosWeight = 1.0) -> torch.Tensor:
    """Quality Focal Loss (Li et al. 2020, "Generalized Focal Loss", eq. 5)::

        QFL(sigma) = -|y - sigma| ** beta * ((1 - y) log(1 - sigma) + y log(sigma))

    with ``y`` the soft IoU target in [0, 1] (0 for negatives) and ``beta = 2``
    (the paper's choice). Shapes as :func:`bce`.
    """
    _check("beta", beta, 0.0)
    x, y = _prepare(pred, target, "qfl")
    # y - sigma(x) = y * sigma(-x) - (1 - y) * sigma(x): accurate when sigma(x) is near 1.
    dist = (y * torch.sigmoid(-x) - (1 - y) * torch.sigmoid(x)).abs()
    return _bce(x, y, pos_weight) * _pow(dist, beta)


def vfl(
    pred: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.75,
    gamma: float = 2.0,
    pos_weight: PosWeight = 1.0,
) -> torch.Tensor:
    """Varifocal Loss (Zhang et al. 2021, "VarifocalNet: An IoU-aware Dense Object
    Detector", eq. 2)::

        VFL(p, q) = -q (q log p + (1 - q) log(1 - p))     if q > 0
                  = -alpha * p ** gamma * log(1 - p)       if q == 0

    ``q`` is the IoU-aware target (IoU of the positive's predicted box, 0 for
    negatives); positives are weighted by q itself (the paper's IoU-weighted
    variant), negatives are focally down-weighted. A positive whose soft target
    is exactly 0 (e.g. YOLOv5's IoU clamped at 0) is treated as a negative.
    ``p ** gamma`` is evaluated as ``exp(gamma * logsigmoid(x))``. Shapes as :func:`bce`.
    """
    _check("alpha", alpha, 0.0)
    _check("gamma", gamma, 0.0)
    x, q = _prepare(pred, target, "vfl")
    neg_weight = alpha * torch.exp(gamma * F.logsigmoid(x))  # alpha * p ** gamma
    weight = torch.where(q > 0, q, neg_weight)
    # For q == 0 the cross-entropy reduces to -log(1 - p) = softplus(x), as the formula needs.
    return weight * _bce(x, q, pos_weight)
