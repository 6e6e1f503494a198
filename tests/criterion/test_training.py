"""Every assigner strategy (and a few combinations) and every loss trains: a few iterations lower the loss; each loss
component trains on its own and reaches only its own channels; adapt_obj_gain through ``criterion.update()``; a loss
registered with one dict entry trains."""

import math

import pytest
import torch
import torch.nn.functional as F

import yolo_ext  # noqa: F401
from yolo_ext.assign import ASSIGNERS
from yolo_ext.losses import LOSSES, LossSpec

from helpers import overfit, overfit_losses

SPECS = sorted(ASSIGNERS) + ["radius+ignore+dedup", "distance+recover", "yolov5+dedup", "maxiou+ignore", "atss+dedup",
                              "tal+ignore"]
# SimOTA re-ranks every level at every step; with YOLOv5's per-level box means a lone positive appearing on a level
# moves the loss in steps, so it gets a longer run (measured: 0.116 -> 0.074 in 40 steps, 0.15 at step 20)
STEPS = {"simota": 40}
COMPONENTS = ("box_loss", "obj_loss", "cls_loss")


def drop(losses):
    return losses[-1] / losses[0]


@pytest.mark.parametrize("spec", SPECS)
def test_each_assigner_lowers_the_loss(spec):
    losses = overfit_losses("face-vgg-fpn.yaml", steps=STEPS.get(spec, 10), assigner=spec,
                            dedup_mode="iou" if "dedup" in spec else "unique")
    assert drop(losses) < 0.9, losses


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_objectness_loss_lowers_the_loss(name):
    losses = overfit_losses("face-vgg-fpn.yaml", steps=10, obj_loss=name)
    assert drop(losses) < 0.9, losses


def test_ohem_and_adapted_gain_lower_the_loss():
    losses = overfit_losses("face-vgg-fpn.yaml", steps=10, ohem=True, obj_loss="vfl", adapt_obj_gain=True)
    assert drop(losses) < 0.9, losses


def test_class_losses_with_three_classes():
    for name in sorted(LOSSES):  # the class term is a small part of the total, hence the smaller required drop
        losses = overfit_losses("face-vgg-fpn.yaml", steps=10, nc=3, cls_loss=name)
        assert drop(losses) < 0.97, (name, losses)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("component", COMPONENTS)
def test_each_component_trained_alone_decreases(name, component):
    """Back-propagating one component alone (its targets then stay fixed) must lower it: fails if its gradient is
    detached (nothing to train) or if the component is replaced by a constant (0 / 0)."""
    _, _, history = overfit("face-vgg-fpn.yaml", steps=10, nc=3, train_on=component, obj_loss=name, cls_loss=name)
    first, last = history[0][component], history[-1][component]
    assert first > 0 and last / first < 0.7, [h[component] for h in history]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_each_component_reaches_only_its_channels(name):
    """box -> the 4 box logits of positives, obj -> the objectness logit (its IoU target is detached), cls -> the
    class logits of positives: each gradient non-zero where it belongs and exactly zero elsewhere."""
    model, batch, _ = overfit("face-vgg-fpn.yaml", steps=1, nc=3, obj_loss=name, cls_loss=name)
    maps = model(batch["img"])["preds"]
    loss, _ = model.loss(batch, {"preds": maps})
    channels = {"box_loss": range(0, 4), "obj_loss": range(4, 5), "cls_loss": range(5, maps[0].shape[-1])}
    for k, component in enumerate(COMPONENTS):
        grads = torch.autograd.grad(loss[k], maps, retain_graph=True)
        own = torch.zeros(maps[0].shape[-1], dtype=torch.bool)
        own[list(channels[component])] = True
        inside = sum(g[..., own].abs().sum() for g in grads)
        outside = sum(g[..., ~own].abs().sum() for g in grads)
        assert inside > 0 and outside == 0, (component, float(inside), float(outside))


def test_adapt_obj_gain_through_criterion_update():
    """The documented rule, once an epoch: scale *= clip(sqrt(ratio / balance_target), 0.5, 2), with ratio the
    epoch's weighted box / obj loss; written back to the args and used by the next batch."""
    model, batch, history = overfit("face-vgg-fpn.yaml", steps=4, adapt_obj_gain=True, balance_target=0.5)
    scale = 1.0
    for epoch in range(2):
        if epoch:  # a second epoch continues from the adapted scale
            history = [{k: float(v) for k, v in model.loss(batch)[1].items()} for _ in range(3)]
        ratio = sum(h["box_loss"] for h in history) / sum(h["obj_loss"] for h in history)
        model.criterion.update()
        stats = model.criterion.last_epoch_stats
        scale *= min(max(math.sqrt(ratio / 0.5), 0.5), 2.0)
        assert stats["box_obj_ratio"] == pytest.approx(ratio, rel=1e-6)
        assert stats["obj_gain_scale"] == model.args.obj_gain_scale == pytest.approx(scale, rel=1e-6)
    assert scale != 1.0
    with torch.no_grad():
        preds = model(batch["img"])
        _, adapted = model.criterion(preds, batch)
        model.args.obj_gain_scale = 1.0
        _, unit = model.criterion(preds, batch)
    assert adapted["obj_loss"].item() == pytest.approx(scale * unit["obj_loss"].item(), rel=1e-6)


def test_a_loss_registered_with_one_dict_entry_trains(monkeypatch):
    calls = []

    def toy(pred, target, scale=1.0):
        calls.append((scale, pred.requires_grad))
        return scale * F.binary_cross_entropy_with_logits(pred, target, reduction="none")

    monkeypatch.setitem(LOSSES, "toy", LossSpec(toy, {"scale": 1.0}, default_norm="mean"))
    losses = overfit_losses("face-vgg-fpn.yaml", steps=2, obj_loss="toy", toy_scale=0.5)
    trained = [c for c in calls if c[1]]
    assert len(trained) == 2 * 3 and {s for s, _ in trained} == {0.5}  # 2 steps x 3 levels, its own setting
    assert all(math.isfinite(x) for x in losses)
    same = overfit_losses("face-vgg-fpn.yaml", steps=2, obj_loss="toy")  # scale 1: plain BCE, mean (its default_norm)
    assert same == pytest.approx(overfit_losses("face-vgg-fpn.yaml", steps=2, obj_loss="bce"), rel=1e-5)
