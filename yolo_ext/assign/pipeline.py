"""The composed assigner: one base strategy, then its modifiers in registry order (a plain loop)."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch

from .base import Component, Modifier, Strategy
from .context import batch_size as infer_batch_size, check_inputs, level_contexts
from .types import Assignment


class Assigner:
    """Callable label assigner built by :func:`yolo_ext.assign.build_assigner`.

    Args:
        components: registered name -> component instance, in application order: the base
            strategy first, then the modifiers (``build_assigner`` orders them as ``ASSIGNERS``
            does, whatever the order of names in the spec).

    Order of operations (see ``base.py`` for the two protocols):

    1. per level, the base's anchor matches ``base.match(ctx)`` (YOLOv5's ratio test);
    2. each modifier's ``adjust_matches(ctxs, matches, stats)`` (``recover`` adds matches);
    3. the base's ``assign_levels(ctxs, matches)`` (per level ``positives(ctx, match)`` for a
       per-level strategy, all levels at once for a joint one), then per level each modifier's
       ``adjust_level(ctx, lt, stats)`` (``dedup`` drops duplicate claims, ``ignore`` builds the
       objectness ignore mask around the final positives).

    Call: ``assigner(targets, anchors, strides, shapes, preds=None, scores=None) -> Assignment``, with
    targets float (n, 6) [image, class, x, y, w, h] (xywh normalised to the input image),
    anchors float (nl, na, 2) w,h in input pixels, strides (nl,) pixels, shapes a list of
    (ny, nx) per level, preds an optional list of (bs, na, ny, nx, 4) decoded boxes xywh in
    input pixels (required when ``needs_preds``) and scores an optional list of (bs, na, ny, nx, nc)
    scores ``sigmoid(obj) * sigmoid(cls)`` (required when ``needs_scores``); ``batch_size`` the number
    of images (default: preds' batch, else 1 + the largest image index of targets). Stateless; runs under ``torch.no_grad()`` (the
    caller need not wrap it); outputs and ``stats`` (0-d int64 tensors) live on ``targets.device``.
    """

    def __init__(self, components: Mapping[str, Component]):
        items = list(components.items())
        if not items or not isinstance(items[0][1], Strategy):
            raise TypeError(f"an Assigner starts with a Strategy (base), got {[type(c).__name__ for _, c in items]}")
        bad = [n for n, c in items[1:] if not isinstance(c, Modifier)]
        if bad:
            raise TypeError(f"components after the base must be Modifier instances: {bad}")
        self._components = dict(items)  # a plain dict: the model (criterion included) is deep-copied for EMA
        self.base: Strategy = items[0][1]
        self.modifiers: Tuple[Modifier, ...] = tuple(c for _, c in items[1:])

    @property
    def components(self) -> Dict[str, Component]:
        """A copy of the name -> component map, in application order."""
        return dict(self._components)

    @property
    def names(self) -> Tuple[str, ...]:
        """Component names in application order."""
        return tuple(self._components)

    @property
    def spec(self) -> str:
        """Canonical spec string, e.g. ``'radius+dedup+ignore'``."""
        return "+".join(self.names)

    @property
    def needs_preds(self) -> bool:
        """True when any component (base included) reads ``preds``."""
        return any(c.needs_preds or c.needs_scores for c in self._components.values())

    @property
    def needs_scores(self) -> bool:
        """True when any component reads ``scores`` (then ``preds`` too)."""
        return any(c.needs_scores for c in self._components.values())

    def __repr__(self) -> str:
        params = {k: v for c in self._components.values() for k, v in vars(c).items()}
        return f"Assigner({self.spec!r}, {params})"

    @torch.no_grad()
    def __call__(
        self, targets: torch.Tensor, anchors: torch.Tensor, strides, shapes: Sequence,
        preds: Optional[Sequence[torch.Tensor]] = None, scores: Optional[Sequence[torch.Tensor]] = None,
        batch_size: Optional[int] = None,
    ) -> Assignment:
        if preds is None and self.needs_preds:
            raise ValueError(
                f"assigner {self.spec!r} needs preds (per-level decoded boxes (bs, na, ny, nx, 4) in pixels); got preds=None"
            )
        if scores is None and self.needs_scores:
            raise ValueError(f"assigner {self.spec!r} needs scores (per-level (bs, na, ny, nx, nc) obj x cls "
                             "probabilities); got scores=None")
        targets, anchors, strides, shapes = check_inputs(targets, anchors, strides, shapes, preds, scores)
        detach = lambda xs: None if xs is None else [x.detach() for x in xs]  # noqa: E731
        bs = infer_batch_size(targets, preds, batch_size)
        ctxs = level_contexts(targets, anchors, strides, shapes, detach(preds), detach(scores), bs)
        stats = {}
        matches = [self.base.match(c) for c in ctxs]
        for m in self.modifiers:
            matches = m.adjust_matches(ctxs, matches, stats)
        levels = []
        for ctx, lt in zip(ctxs, self.base.assign_levels(ctxs, matches)):
            for m in self.modifiers:
                lt = m.adjust_level(ctx, lt, stats)
            levels.append(lt)
        # a fill from a host int (shapes are known on the host): no copy, no sync
        stats["positives"] = torch.full((), sum(lt.num for lt in levels), dtype=torch.int64, device=targets.device)
        return Assignment(levels, stats)
