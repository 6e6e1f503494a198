"""The component protocols (yolo_ext/assign/base.py): a toy strategy and a toy modifier, each defined here and
registered with one dict entry, are picked up by the registry and train through the real criterion."""

import math

import pytest
import torch

from yolo_ext.assign import (
    ASSIGNERS, LevelContext, LevelTargets, Modifier, Strategy, add_stat, assigner_params, base_names, build_assigner,
    describe_assigners, modifier_order,
)
from yolo_ext.assign.base import check_anchor_t, check_number
from yolo_ext.config.defaults import ext_defaults

from helpers import overfit_losses

ONE = torch.tensor([[[8.0, 8.0]]])  # one level, one anchor of 1x1 cells at stride 8
S8 = torch.tensor([8.0])


def toy_components(log):
    """A base giving each anchor match its centre cell only, and a modifier scaling every weight."""

    class CentreOnly(Strategy):
        DESCRIPTION = "toy: the centre cell of each anchor match"
        PARAMS = {"anchor_t": 4.0}

        def __init__(self, anchor_t: float = 4.0):
            self.anchor_t = check_anchor_t(anchor_t)

        def positives(self, ctx: LevelContext, match: torch.Tensor) -> LevelTargets:
            log.append(("toy", ctx.index))
            a, t = match.nonzero(as_tuple=True)
            gi = ctx.tg[t, 2].long().clamp(0, ctx.nx - 1)
            gj = ctx.tg[t, 3].long().clamp(0, ctx.ny - 1)
            return LevelTargets(ctx.tg[t, 0].long(), a, gj, gi, t, torch.ones(t.shape, device=t.device))

    class ScaleWeights(Modifier):
        DESCRIPTION = "toy: every positive's weight times toy_weight"
        PARAMS = {"toy_weight": 0.5}

        def __init__(self, toy_weight: float = 0.5):
            self.toy_weight = check_number("toy_weight", toy_weight, lambda v: 0 < v <= 1, "in (0, 1]")

        def adjust_level(self, ctx, lt, stats):
            log.append(("scale", self.toy_weight))
            add_stat(stats, "scaled", (lt.weight > 0).sum())
            return lt._replace(weight=lt.weight * self.toy_weight)

    return CentreOnly, ScaleWeights


@pytest.fixture
def toys(monkeypatch):
    log = []
    base, mod = toy_components(log)
    monkeypatch.setitem(ASSIGNERS, "toy", base)  # one dict entry each
    monkeypatch.setitem(ASSIGNERS, "scale", mod)
    return log


def test_registered_toys_are_picked_up_everywhere(toys):
    assert "toy" in base_names() and modifier_order()[-1] == "scale"  # applied after the shipped modifiers
    assert assigner_params()["toy_weight"] == 0.5 and ext_defaults()["toy_weight"] == 0.5  # a settings key now
    assert [ln.split()[0] for ln in describe_assigners().splitlines()] == list(ASSIGNERS)
    a = build_assigner("scale+dedup+toy", toy_weight=0.25)
    assert a.spec == "toy+dedup+scale" and not a.needs_preds
    t = torch.tensor([[0, 0, 0.43, 0.57, 0.1, 0.1], [0, 0, 0.45, 0.55, 0.1, 0.1]])  # both centres in cell (5, 4)
    out = a(t, ONE, S8, [(10, 10)])
    assert [(lt.gj.tolist(), lt.gi.tolist(), lt.weight.tolist()) for lt in out] == [([5], [4], [0.25])]
    assert {k: int(v) for k, v in out.stats.items()} == {"dedup_removed": 1, "scaled": 1, "positives": 1}
    assert toys == [("toy", 0), ("scale", 0.25)]
    with pytest.raises(ValueError, match="toy_weight=2"):
        build_assigner("toy+scale", toy_weight=2)
    with pytest.raises(ValueError, match="base strategies"):
        build_assigner("toy+yolov5")


def test_a_later_registration_leaves_the_shipped_specs_alone(toys):
    assert build_assigner("ignore+radius+recover+dedup").spec == "radius+recover+dedup+ignore"
    assert build_assigner("ignore").spec == "yolov5+ignore"


def test_toys_train_two_iterations_through_the_criterion(toys):
    losses = overfit_losses(steps=2, assigner="toy+scale", toy_weight=0.25)
    assert len(losses) == 2 and all(math.isfinite(v) and v > 0 for v in losses)
    assert ("toy", 0) in toys and ("toy", 2) in toys  # every level of the anchor head, at every step
    assert ("scale", 0.25) in toys  # the parameter travelled from the trainer args to the modifier


def test_conflicting_defaults_are_reported(monkeypatch):
    base, _ = toy_components([])
    other = type("OtherT", (base,), {"PARAMS": {"anchor_t": 3.0}, "__init__": lambda self, anchor_t=3.0: None})
    monkeypatch.setitem(ASSIGNERS, "other", other)
    with pytest.raises(ValueError, match="'anchor_t' of 'other' has default 3.0"):
        assigner_params()
