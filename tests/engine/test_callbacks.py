"""Trainer callbacks: the training-start anchor check on every bundled model YAML (no spacing warning unless the
YAML documents itself as exempt), and the epoch counters."""

import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from ultralytics.utils import LOGGER

import yolo_ext  # noqa: F401
from yolo_ext.config.paths import ROOT
from yolo_ext.engine.callbacks import anchor_check, epoch_stats
from yolo_ext.nn.head import AnchorDetect

MODELS = sorted((ROOT / "models").glob("*.yaml"))
EXEMPT = "# anchor spacing: exempt"


def fake_trainer(model, anchor_t=4.0, imgsz=640):
    wh = np.geomspace(0.01, 0.6, 40)
    labels = [{"bboxes": np.column_stack((np.full_like(wh, 0.5), np.full_like(wh, 0.5), wh, wh * 1.2)),
               "shape": (640, 640)}]
    return SimpleNamespace(train_loader=SimpleNamespace(dataset=SimpleNamespace(labels=labels)), model=model,
                           args=SimpleNamespace(anchor_t=anchor_t, imgsz=imgsz))


@pytest.fixture
def warnings_logged():
    records = []
    h = logging.Handler(level=logging.WARNING)
    h.emit = lambda r: records.append(r.getMessage())
    LOGGER.addHandler(h)
    yield records
    LOGGER.removeHandler(h)


def yaml_head(path) -> AnchorDetect:
    """The AnchorDetect head of a model YAML (its anchors, strides 8, 16, 32 ..., YOLOv5's order check), without building
    the body: what ``anchor_check`` reads of a model (``anchors_of`` accepts a bare head)."""
    d = yaml.safe_load(path.read_text())
    head = AnchorDetect(1, d["anchors"], [4] * len(d["anchors"]), source=str(path))
    head.stride = torch.tensor([8.0 * 2**i for i in range(head.nl)])
    head.check_anchor_order()
    return head


def test_every_bundled_model_yaml_is_checked():
    assert {p.name for p in MODELS} >= {"face-vgg-fpn.yaml", "yolov5n-1a.yaml", "yolov5n.yaml"}


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.name)
def test_anchor_spacing_of_bundled_models(path, warnings_logged):
    res = anchor_check(fake_trainer(yaml_head(path)))
    spacing = [w for w in warnings_logged if "adjacent anchor levels" in w]
    if EXEMPT in path.read_text():  # documented: the warning is expected and says why it matters
        assert spacing and (res["ratios"] < 4.0).any()
    else:
        assert not spacing, spacing
        assert (res["ratios"] >= 4.0 * (1 - 1e-6)).all(), res["ratios"]


def test_epoch_stats_come_from_the_unwrapped_criterion():
    crit = SimpleNamespace(last_epoch_stats={"positives": 3.0})
    inner = SimpleNamespace(criterion=crit)
    assert epoch_stats(SimpleNamespace(model=SimpleNamespace(module=inner))) == {"positives": 3.0}
    assert epoch_stats(SimpleNamespace(model=torch.nn.Linear(1, 1))) == {}


def test_assign_epoch_reaches_the_model_and_its_ema():
    from yolo_ext.engine.callbacks import assign_epoch

    model, ema = SimpleNamespace(), SimpleNamespace()
    trainer = SimpleNamespace(model=SimpleNamespace(module=model), ema=SimpleNamespace(ema=ema), epoch=3)
    assign_epoch(trainer)
    assert model.assign_epoch == 3 and ema.assign_epoch == 3
    assign_epoch(SimpleNamespace(model=model, ema=None, epoch=5))  # no DDP wrapper, no EMA
    assert model.assign_epoch == 5
