"""The two component protocols of the assigner pipeline, and the checks their constructors share.

A component is one class registered under one name in ``ASSIGNERS`` (registry.py). It declares

* ``KIND``: ``"base"`` (a :class:`Strategy`) or ``"modifier"`` (a :class:`Modifier`);
* ``DESCRIPTION``: one line for ``--assigner list``;
* ``PARAMS``: hyperparameter name -> default; ``__init__`` takes exactly these keywords with these
  defaults and validates them (raising ``ValueError`` / ``TypeError`` naming the key, the value and
  what is allowed), so building a component is the one validation of its settings;
* ``needs_preds``: whether it reads the decoded predictions (``ctx.preds``), asked of every
  component, the base included; ``needs_scores`` likewise for the predicted scores (``ctx.scores``);
* ``REFUSES`` (bases only): modifier name -> why this base cannot be combined with it
  (``build_assigner`` raises ``ValueError`` with that reason).

The pipeline (pipeline.py) calls, per assigner call, with ``stats`` a dict of 0-d count tensors:

1. ``matches = [base.match(ctx) for ctx in ctxs]``, one bool (na, nt) per level;
2. ``matches = m.adjust_matches(ctxs, matches, stats)`` for each modifier ``m`` in registry order;
3. ``levels = base.assign_levels(ctxs, matches)`` (a per-level :class:`Strategy` calls
   ``positives(ctx, match)`` on each level; a :class:`JointStrategy` ranks all levels together),
   then per level ``lt = m.adjust_level(ctx, lt, stats)`` for each modifier in registry order.

A modifier overrides one or both hooks; the other is the identity.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from typing import Callable, ClassVar, Dict, List, Sequence

import torch

from .context import LevelContext
from .types import LevelTargets


class Component(ABC):
    """What the registry, ``describe_assigners()`` and the pipeline read of every component."""

    KIND: ClassVar[str]
    DESCRIPTION: ClassVar[str] = ""
    PARAMS: ClassVar[Dict[str, object]] = {}
    needs_preds: bool = False  # a class attribute, or a property when it depends on a parameter
    needs_scores: bool = False  # reads ctx.scores (obj x cls probabilities); implies needs_preds
    REFUSES: ClassVar[Dict[str, str]] = {}  # bases: modifier name -> why the combination is refused


class Strategy(Component):
    """A base strategy: per level, anchor matches -> positive cells (exactly one per assigner).

    The default :meth:`match` is YOLOv5's ratio test with the instance's ``anchor_t``; a strategy
    that matches otherwise overrides it (and then needs no ``anchor_t``).
    """

    KIND = "base"
    anchor_t: float

    def match(self, ctx: LevelContext) -> torch.Tensor:
        """bool (na, nt): anchor a may serve target t on this level (``ctx.metric < anchor_t``)."""
        return ctx.metric < self.anchor_t

    @abstractmethod
    def positives(self, ctx: LevelContext, match: torch.Tensor) -> LevelTargets:
        """Positives of one level from ``match`` (bool (na, nt), after the modifiers' adjust_matches)."""

    def assign_levels(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor]) -> List[LevelTargets]:
        """Positives of every level: ``positives`` level by level."""
        return [self.positives(c, m) for c, m in zip(ctxs, matches)]


class JointStrategy(Strategy):
    """A base strategy that ranks candidates of all levels together (ATSS's threshold, SimOTA's dynamic k,
    TAL's top-k and MaxIoU's best anchor per target are taken over every level at once).

    Subclasses implement :meth:`assign_levels`; ``positives`` of one level is the strategy run on that level
    alone (as on a one-level head). They do not use YOLOv5's anchor ratio test: :meth:`match` accepts every
    (anchor, target) pair, and ``recover`` (which repairs ratio-test failures) is refused.
    """

    REFUSES = {"recover": "it repairs targets failing YOLOv5's anchor ratio test, which this strategy does not use "
                          "(every target is ranked against every anchor)"}

    def match(self, ctx: LevelContext) -> torch.Tensor:
        """bool (na, nt), all True: no ratio test."""
        return torch.ones(ctx.metric.shape, dtype=torch.bool, device=ctx.metric.device)

    def positives(self, ctx: LevelContext, match: torch.Tensor) -> LevelTargets:
        """The strategy on this one level alone."""
        return self.assign_levels([ctx], [match])[0]

    @abstractmethod
    def assign_levels(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor]) -> List[LevelTargets]:
        """Positives of every level, ranked jointly; ``matches`` (all True) are not read."""


class Modifier(Component):
    """Adjusts the anchor matches before the base expands them, and/or each level's positives after.

    Hooks run in the registry order of the modifiers of a spec, whatever the spec's order. Each one
    records what it did in ``stats`` with :func:`add_stat` (0-d int64 tensors, no host sync).
    """

    KIND = "modifier"

    def adjust_matches(self, ctxs: Sequence[LevelContext], matches: List[torch.Tensor], stats: Dict[str, torch.Tensor]) -> List[torch.Tensor]:
        """Per-level bool (na, nt) matches -> adjusted matches (same shapes). Identity by default."""
        return matches

    def adjust_level(self, ctx: LevelContext, lt: LevelTargets, stats: Dict[str, torch.Tensor]) -> LevelTargets:
        """One level's positives -> adjusted positives (and/or ignore mask). Identity by default."""
        return lt


def add_stat(stats: Dict[str, torch.Tensor], key: str, value: torch.Tensor) -> None:
    """``stats[key] += value`` (created at the first call); ``value`` a 0-d int64 count tensor.

    Counts stay on the inputs' device: the caller converts once per epoch, not per batch.
    """
    stats[key] = stats[key] + value if key in stats else value


def zero_count(device: torch.device) -> torch.Tensor:
    """A 0-d int64 zero on ``device`` (the count of an empty level), created without a host copy."""
    return torch.zeros((), dtype=torch.int64, device=device)


# ------------------------------------------------------------------------------- parameter checks


def check_number(key: str, value, ok: Callable[[float], bool], allowed: str) -> float:
    """``float(value)`` if it is a finite real number (not a bool) with ``ok(value)``.

    Raises:
        TypeError: not a real number (bools, strings and None included): ``"anchor_t=True: ..."``.
        ValueError: NaN, infinite or outside ``allowed``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key}={value!r} ({type(value).__name__}): {key} must be a number {allowed}")
    v = float(value)
    if not (math.isfinite(v) and ok(v)):
        raise ValueError(f"{key}={value!r} is out of range: {key} must be a finite number {allowed}")
    return v


def check_choice(key: str, value, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices`` (strings), else ValueError naming key, value and choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{key}={value!r}: {key} must be one of {', '.join(map(repr, choices))}")
    return value


def check_int(key: str, value, ok: Callable[[int], bool], allowed: str) -> int:
    """``int(value)`` for an integral real number (not a bool) with ``ok(value)``; TypeError / ValueError otherwise."""
    v = check_number(key, value, lambda x: x == int(x), f"{allowed} (an integer)")
    if not ok(int(v)):
        raise ValueError(f"{key}={value!r} is out of range: {key} must be an integer {allowed}")
    return int(v)


def check_anchor_t(anchor_t) -> float:
    """The YOLOv5 ratio-test threshold: max(r, 1/r) >= 1, so a threshold must exceed 1."""
    return check_number("anchor_t", anchor_t, lambda v: v > 1.0, "> 1 (the ratio test keeps max(r, 1/r) < anchor_t)")
