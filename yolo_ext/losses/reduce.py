"""Loss normalisation: the one place where elementwise losses become scalars.

``reduce_loss(loss, mode, ...)`` turns an elementwise loss map into a scalar:

    numerator   = sum over counted elements of loss * weight
    mean        : numerator / max(number of counted elements, 1)
    sum         : numerator
    pos         : numerator / max(number of positives, min_norm)
    target_sum  : numerator / max(sum of soft targets over counted elements, min_norm)

"Counted" elements are those where ``mask`` is True (all if no mask): cells
excluded by an ignore mask or not selected by OHEM count in neither the
numerator nor the denominator. ``weight`` scales the numerator only (as
mmdetection's ``weight_reduce_loss`` does); it never changes a denominator.

Why each loss defaults to the mode it does (``LossSpec.default_norm``)
----------------------------------------------------------------------
YOLOv5 averages the objectness BCE over *every* cell of a level ('mean'), and
its box/obj/cls gains (``hyp.box``, ``hyp.obj``, ``hyp.cls``) are tuned for that
scale. This is right for plain BCE: every cell, positive or negative,
contributes O(1) loss and the mean is O(1).

Focal, QFL and VFL are built to make the (overwhelmingly many) easy negatives
contribute almost nothing: each negative is scaled by ``p ** gamma`` (focal,
VFL) or ``p ** beta`` (QFL), i.e. ~1e-4 for p ~ 0.01. Averaged over all cells
the loss is then dominated by the denominator (the number of cells, 10^3-10^5
per image), becomes tiny next to the box loss, and the objectness branch barely
trains; this is the usual reason "focal loss in YOLOv5 hurts". The papers that
define these losses normalise by the number of positives instead:

- RetinaNet (focal): sum over all anchors / number of anchors assigned to a
  ground-truth box.
- GFL (QFL): classification loss with ``avg_factor = num_total_pos``.
- VarifocalNet (VFL): classification loss with ``avg_factor = max(num_pos, 1)``.
  (VarifocalNet and GFL divide their *box* losses by the sum of IoU weights,
  and YOLOv8/TOOD divide the BCE class loss by ``max(target_scores.sum(), 1)``;
  that is the ``target_sum`` mode, available but not a default here.)

So ``bce`` defaults to 'mean' (exactly YOLOv5) and ``focal``/``qfl``/``vfl`` to
'pos'. With 'pos' the value no longer depends on how many easy negatives the
grid has (image size, anchors per cell, number of levels): tested by padding a
map with easy negatives, which halves the 'mean' value but leaves 'pos' nearly
unchanged.

Gains. Switching from 'mean' to 'pos' multiplies each cell's weight by
N_cells / N_pos (about 100 for a 2,100-cell map with 20 positives), so the
criterion's obj gain must be re-tuned with it; the stock YOLOv5 ``hyp.obj`` is
calibrated for 'mean'. Measured on a 2,100-cell map, 20 positives at p = 0.5
with soft target 0.5, negatives at p ~ 0.01 (default parameters):
bce/mean 0.018; focal/mean 0.0012 vs focal/pos 0.12; vfl/mean 0.0033 vs
vfl/pos 0.35. For reference, GFL weights QFL (/ positives) 1.0 against a
GIoU box loss 2.0 (/ sum of quality weights); VarifocalNet weights VFL
(/ positives) 1.0 against GIoU 1.5 and 2.0 (initial, refined; / sum of IoUs).

Denominator floors. 'pos' and 'target_sum' clamp the denominator at
``min_norm`` (default 1.0, as VarifocalNet ``max(num_pos, 1)`` and YOLOv8
``max(target_scores.sum(), 1)``): a batch without positives then returns the
plain sum of the negatives' loss instead of dividing it by ~0.

No ``.item()`` is called and no host value is copied to the device (counts given as numbers become
device tensors by a fill, not a copy): denominators stay tensors, so there is no device sync.
"""

from __future__ import annotations

from typing import Optional, Union

import torch

# The one set of normalisation modes (the criterion adds 'auto' = the loss's ``LossSpec.default_norm``).
NORM_MODES = ("mean", "sum", "pos", "target_sum")

Count = Union[int, float, torch.Tensor]


def _broadcastable(name: str, t: Optional[torch.Tensor], shape: torch.Size) -> None:
    if t is None:
        return
    try:
        ok = torch.broadcast_shapes(t.shape, shape) == shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"reduce_loss: {name} shape {tuple(t.shape)} does not broadcast to loss shape {tuple(shape)}")


def _count_or_sum(name: str, value: Count, loss: torch.Tensor, mask: Optional[torch.Tensor], boolean: bool):
    """A tensor the shape of ``loss`` is summed over counted elements; a number is used as is."""
    if not torch.is_tensor(value):
        return loss.new_full((), float(value))  # a fill on the device, not a host-to-device copy
    if value.dim() == 0:
        return value.to(dtype=loss.dtype, device=loss.device)
    if value.shape != loss.shape:
        raise ValueError(
            f"reduce_loss: {name} shape {tuple(value.shape)} != loss shape {tuple(loss.shape)} "
            f"(pass a number to give the {'count' if boolean else 'sum'} directly)"
        )
    if boolean and value.dtype != torch.bool:
        raise TypeError(f"reduce_loss: {name} must be a bool tensor, got {value.dtype}")
    value = value.to(loss.dtype)
    if mask is not None:
        value = torch.where(mask, value, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return value.sum()


def _check_args(loss, mode, mask, weight, pos, soft_target, min_norm) -> None:
    if mode not in NORM_MODES:
        raise ValueError(f"reduce_loss: unknown mode {mode!r}; valid modes: {', '.join(NORM_MODES)}")
    if mode == "pos" and pos is None:
        raise ValueError("reduce_loss: mode 'pos' needs pos= (bool mask of positives or their count)")
    if mode == "target_sum" and soft_target is None:
        raise ValueError("reduce_loss: mode 'target_sum' needs soft_target= (tensor or its sum)")
    if not min_norm > 0:
        raise ValueError(f"reduce_loss: min_norm must be > 0, got {min_norm!r}")
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(f"reduce_loss: mask must be a bool tensor, got {mask.dtype}")
    _broadcastable("mask", mask, loss.shape)
    _broadcastable("weight", weight, loss.shape)


def reduce_loss(
    loss: torch.Tensor,
    mode: str,
    mask: Optional[torch.Tensor] = None,
    weight: Optional[torch.Tensor] = None,
    pos: Optional[Count] = None,
    soft_target: Optional[Count] = None,
    min_norm: float = 1.0,
) -> torch.Tensor:
    """Reduce an elementwise loss to a scalar with an explicit normalisation.

    Args:
        loss: elementwise loss, any shape S (e.g. (bs, na, ny, nx) objectness,
            (n_pos, nc) classes, or (bs, N) levels concatenated per image).
        mode: one of ``NORM_MODES`` (see module docstring for the formulas).
        mask: optional bool, broadcastable to S; True = element counts.
        weight: optional float, broadcastable to S; multiplies the loss in the
            numerator only.
        pos: for mode 'pos': a bool tensor of shape S marking positives (counted
            where ``mask`` is True), or a number / 0-d tensor giving the count
            directly (e.g. n_pos for a (n_pos, nc) class loss, or a count
            all-reduced across DDP ranks).
        soft_target: for mode 'target_sum': a float tensor of shape S (summed
            over counted elements), or a number / 0-d tensor giving the sum.
        min_norm: floor of the 'pos' and 'target_sum' denominators.

    Returns:
        0-d tensor, float32 for half-precision input, else the loss dtype.

    Raises:
        ValueError: unknown mode (lists valid modes), missing ``pos`` /
            ``soft_target`` for the mode that needs it, or shape mismatch.
    """
    _check_args(loss, mode, mask, weight, pos, soft_target, min_norm)
    if loss.dtype in (torch.float16, torch.bfloat16):
        loss = loss.float()

    if weight is not None:
        loss = loss * weight.to(loss.dtype)
    if mask is not None:
        mask = mask.expand(loss.shape)
        # where, not multiply: a masked-out inf/nan must not leak into the sum.
        loss = torch.where(mask, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    total = loss.sum()

    if mode == "sum":
        return total
    if mode == "mean":
        n = loss.new_full((), float(loss.numel())) if mask is None else mask.sum().to(loss.dtype)
        return total / n.clamp_min(1.0)
    if mode == "pos":
        return total / _count_or_sum("pos", pos, loss, mask, boolean=True).clamp_min(min_norm)
    return total / _count_or_sum("soft_target", soft_target, loss, mask, boolean=False).clamp_min(min_norm)
