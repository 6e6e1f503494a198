"""Assigner plumbing: input checks and the per-level context every strategy reads.

Units: "grid units" are cells of one level (1 = one stride); "pixels" are input-image pixels.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Tuple

import torch

from ..ops import shape_ratio


class LevelContext(NamedTuple):
    """Everything a strategy needs about one detection level (built once per call).

    Attributes:
        index: level number i.
        ny, nx: grid rows / columns.
        stride: float32 0-d tensor, the level stride in pixels (a tensor so that reading it costs no
            host-device sync); the input image is (ny*stride, nx*stride) pixels.
        anchors: float32 (na, 2) anchor w,h in grid units (pixels / stride, as YOLOv5 stores them).
        gain: float32 (6,) [1, 1, nx, ny, nx, ny]: maps normalised targets to grid units.
        targets: float32 (nt, 6) the normalised input targets [image, class, x, y, w, h].
        tg: float32 (nt, 6) targets * gain: [image, class, gx, gy, gw, gh] in grid units.
        metric: float32 (na, nt) YOLOv5 shape-match metric max(r, 1/r) over w,h with r = twh / anchor.
        preds: None or float (bs, na, ny, nx, 4) decoded predicted boxes xywh in pixels.
        scores: None or float (bs, na, ny, nx, nc) predicted class scores in [0, 1], objectness times class
            probability (``sigmoid(obj) * sigmoid(cls)``, what the head scores detections with).
        bs: number of images (the ``batch_size`` argument, else preds' batch, else 1 + the largest image index).
    """

    index: int
    ny: int
    nx: int
    stride: torch.Tensor
    anchors: torch.Tensor
    gain: torch.Tensor
    targets: torch.Tensor
    tg: torch.Tensor
    metric: torch.Tensor
    preds: Optional[torch.Tensor]
    scores: Optional[torch.Tensor] = None
    bs: int = 0

    @property
    def na(self) -> int:
        return int(self.anchors.shape[0])


Inputs = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, List[Tuple[int, int]]]


def check_inputs(targets, anchors, strides, shapes, preds, scores=None) -> Inputs:
    """Validate the assigner call arguments; return float32 targets/anchors/strides and int shapes.

    Shapes are always checked. The one check that reads tensor values (targets' image indices
    against the batch size of ``preds``) runs only where that is free, on the CPU
    (:func:`values_are_free`): on a GPU it would wait for the device at every batch, and the
    trainer's batches are consistent by construction. ``anchors`` and ``strides`` are moved to
    ``targets.device`` with non-blocking copies (no-ops when they are there already).

    Raises ValueError naming the offending argument and its shape/value.
    """
    if not isinstance(targets, torch.Tensor) or targets.dim() != 2 or targets.shape[1] != 6:
        raise ValueError(f"targets must be a (n, 6) tensor [image, class, x, y, w, h], got {_describe(targets)}")
    if not isinstance(anchors, torch.Tensor) or anchors.dim() != 3 or anchors.shape[2] != 2:
        raise ValueError(f"anchors must be a (nl, na, 2) tensor of anchor w,h in pixels, got {_describe(anchors)}")
    nl, na = int(anchors.shape[0]), int(anchors.shape[1])
    strides = torch.as_tensor(strides, dtype=torch.float32).to(targets.device, non_blocking=True).reshape(-1)
    if strides.numel() != nl:
        raise ValueError(f"strides must hold one stride per level (nl={nl}), got {strides.numel()} values")
    shapes = [tuple(int(v) for v in s) for s in shapes]
    if len(shapes) != nl or any(len(s) != 2 or min(s) < 1 for s in shapes):
        raise ValueError(f"shapes must be a list of nl={nl} positive (ny, nx) pairs, got {shapes}")
    if preds is not None:
        if len(preds) != nl:
            raise ValueError(f"preds must be a list of nl={nl} tensors, got {len(preds)}")
        bs = int(preds[0].shape[0]) if preds[0].dim() == 5 else -1
        for i, (p, (ny, nx)) in enumerate(zip(preds, shapes)):
            if p.dim() != 5 or tuple(p.shape[1:]) != (na, ny, nx, 4) or p.shape[0] != bs:
                raise ValueError(
                    f"preds[{i}] must have shape (bs, {na}, {ny}, {nx}, 4) with one bs for all levels, got {tuple(p.shape)}"
                )
        if targets.shape[0] and values_are_free(targets) and int(targets[:, 0].max()) >= bs:
            raise ValueError(f"targets reference image {int(targets[:, 0].max())} but preds hold a batch of {bs} images")
    if scores is not None:
        if preds is None or len(scores) != nl:
            raise ValueError(f"scores must come with preds, as a list of nl={nl} tensors, got {_describe(scores)}")
        for i, (sc, p) in enumerate(zip(scores, preds)):
            if sc.dim() != 5 or tuple(sc.shape[:4]) != tuple(p.shape[:4]):
                raise ValueError(f"scores[{i}] must have shape (bs, na, ny, nx, nc) = {tuple(p.shape[:4])} + (nc,), "
                                 f"got {tuple(sc.shape)}")
    return targets.float(), anchors.float().to(targets.device, non_blocking=True), strides, shapes


def values_are_free(x: torch.Tensor) -> bool:
    """True where reading a tensor's values on the host costs no device sync (CPU tensors)."""
    return x.device.type == "cpu"


def batch_size(targets, preds, given: Optional[int] = None) -> int:
    """Images in the batch: ``given``, else the batch of ``preds``, else 1 + the largest image index of ``targets``
    (a host read of a value: the criterion passes ``batch_size`` so that it never waits for the device)."""
    if given is not None:
        return int(given)
    if preds is not None:
        return int(preds[0].shape[0])
    return int(targets[:, 0].max()) + 1 if targets.shape[0] else 1


def level_contexts(targets, anchors, strides, shapes, preds, scores=None, bs: int = 0) -> List[LevelContext]:
    """Build one :class:`LevelContext` per level with YOLOv5's float32 arithmetic.

    Anchors in grid units are ``anchors_px / stride`` (float32 division), the gain is a float32
    vector and the ratio test is ``max(r, 1/r).max(w, h)`` with ``r = (t * gain)[wh] / anchor``,
    exactly as in ultralytics/yolov5 ``utils/loss.py::ComputeLoss.build_targets`` (v6/v7).
    Everything is built on the device (no host data is copied in).
    """
    out = []
    for i, (ny, nx) in enumerate(shapes):
        anc = anchors[i] / strides[i]
        gain = torch.ones(6, device=targets.device)
        gain[2::2].fill_(nx)  # [1, 1, nx, ny, nx, ny]: scalar fills, not a host tensor copied to the device
        gain[3::2].fill_(ny)
        tg = targets * gain
        metric = shape_ratio(tg[:, 4:6], anc)  # (na, nt)
        pred = None if preds is None else preds[i]
        score = None if scores is None else scores[i]
        out.append(LevelContext(i, ny, nx, strides[i], anc, gain, targets, tg, metric, pred, score, bs))
    return out


def targets_to_pixels(ctx: LevelContext, rows: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Target boxes xywh in input pixels, float32 (n, 4); ``rows`` selects target rows (int64)."""
    t = ctx.targets if rows is None else ctx.targets[rows]
    size = ctx.gain[2:6] * ctx.stride  # float32 [nx, ny, nx, ny] * stride: the input size in pixels
    return t[:, 2:6] * size


def cell_centres(ctx: LevelContext, gi: torch.Tensor, gj: torch.Tensor) -> torch.Tensor:
    """float32 (m, 2) centres x, y in input pixels of cells (column ``gi``, row ``gj``): ``(i + 0.5) * stride``."""
    return (torch.stack((gi, gj), 1).float() + 0.5) * ctx.stride


def anchor_boxes_px(ctx: LevelContext, a: torch.Tensor, gi: torch.Tensor, gj: torch.Tensor) -> torch.Tensor:
    """float32 (m, 4) xywh pixels of anchor ``a`` placed on cell (gi, gj): centred on the cell, anchor w,h."""
    return torch.cat((cell_centres(ctx, gi, gj), ctx.anchors.index_select(0, a) * ctx.stride), 1)


def _describe(x) -> str:
    return f"tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else f"{type(x).__name__}"
