"""Every assigner strategy (and a few combinations) and every loss trains: a few iterations lower the loss."""

import pytest

import yolo_ext  # noqa: F401
from yolo_ext.assign import ASSIGNERS
from yolo_ext.losses import LOSSES

from helpers import overfit_losses

SPECS = sorted(ASSIGNERS) + ["radius+ignore+dedup", "distance+recover", "yolov5+dedup"]


def drop(losses):
    return losses[-1] / losses[0]


@pytest.mark.parametrize("spec", SPECS)
def test_each_assigner_lowers_the_loss(spec):
    losses = overfit_losses("face-vgg-fpn.yaml", steps=10, assigner=spec, dedup_mode="iou" if "dedup" in spec else "unique")
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
