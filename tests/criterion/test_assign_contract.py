"""What the criterion hands the assigner and takes back (yolo_ext/criterion/yolov5.py): decoded boxes and scores
computed once per batch, detached; a positive's ``quality`` as its objectness target; the assigner warm-up."""

import math
from types import SimpleNamespace

import pytest
import torch

from yolo_ext.assign import build_assigner
from yolo_ext.assign.types import Assignment, LevelTargets
from yolo_ext.criterion import YOLOv5Criterion
from yolo_ext.nn.head import AnchorDetect


def tiny_model(nc=2, **ext):
    head = AnchorDetect(nc, [[8, 8]], [4])
    head.stride = torch.tensor([8.0])
    args = SimpleNamespace(box=0.05, cls=0.5, imgsz=16, scale_gains=False, **ext)
    return SimpleNamespace(args=args, model=[head])


def batch_one():
    return {"batch_idx": torch.tensor([0.0]), "cls": torch.tensor([[1.0]]), "bboxes": torch.tensor([[0.25, 0.25, 0.5, 0.5]])}


def capture_objectness(crit):
    seen = []
    inner = crit.objectness
    crit.objectness = lambda levels: (seen.append([lv[1].clone() for lv in levels]), inner(levels))[1]
    return seen


def test_quality_is_the_objectness_target():
    crit = YOLOv5Criterion(tiny_model())
    z = torch.zeros(1, dtype=torch.long)
    crit.assigner = lambda *a, **k: Assignment([LevelTargets(z, z, z, z, z, torch.ones(1), None, torch.tensor([0.3]))], {})
    seen = capture_objectness(crit)
    p = torch.zeros(1, 1, 2, 2, 7, requires_grad=True)
    crit({"preds": [p]}, batch_one())
    tobj = seen[-1][0]
    assert tobj[0, 0, 0, 0].item() == pytest.approx(0.3) and tobj.sum().item() == pytest.approx(0.3)
    # without quality the target is YOLOv5's IoU of the prediction (here 0.32 for a zero-logit box): not 0.3
    crit.assigner = lambda *a, **k: Assignment([LevelTargets(z, z, z, z, z, torch.ones(1), None)], {})
    crit({"preds": [p]}, batch_one())
    assert seen[-1][0][0, 0, 0, 0].item() != pytest.approx(0.3)


def test_boxes_and_scores_once_per_batch_detached():
    crit = YOLOv5Criterion(tiny_model(assigner="tal"))
    calls, got = [], {}
    decode = crit.head.decode_boxes
    crit.head.decode_boxes = lambda maps: (calls.append(1), decode(maps))[1]
    inner = crit.assigner

    def spy(*a, **k):
        got.update(k)
        return inner(*a, **k)

    crit.assigner = spy
    crit.current_assigner = lambda: spy
    spy.needs_preds, spy.needs_scores = True, True
    p = torch.randn(1, 1, 2, 2, 7, requires_grad=True)
    crit({"preds": [p]}, batch_one())
    assert len(calls) == 1 and got["batch_size"] == 1
    want = torch.sigmoid(p[..., 4:5]) * torch.sigmoid(p[..., 5:])
    assert torch.allclose(got["scores"][0], want) and not got["scores"][0].requires_grad
    assert torch.allclose(got["preds"][0], decode([p.detach()])[0]) and not got["preds"][0].requires_grad


def test_yolov5_gets_neither():
    crit = YOLOv5Criterion(tiny_model())
    got = {}
    inner = crit.assigner
    crit.assigner = lambda *a, **k: (got.update(k), inner(*a, **k))[1]
    crit({"preds": [torch.zeros(1, 1, 2, 2, 7)]}, batch_one())
    assert got["preds"] is None and got["scores"] is None


@pytest.mark.parametrize("epoch,expected", [(None, "tal"), (0, "atss"), (3, "atss"), (4, "tal"), (9, "tal")])
def test_warmup_assigner_by_epoch(epoch, expected):
    model = tiny_model(assigner="tal", assigner_warmup="atss", assigner_warmup_epochs=4)
    if epoch is not None:
        model.assign_epoch = epoch
    crit = YOLOv5Criterion(model)
    assert crit.current_assigner().spec == expected
    assert crit.needs_preds == (expected == "tal")
    loss, _ = crit({"preds": [torch.zeros(1, 1, 2, 2, 7)]}, batch_one())
    assert torch.isfinite(loss).all()


def test_no_warmup_without_epochs():
    crit = YOLOv5Criterion(tiny_model(assigner="tal", assigner_warmup="atss", assigner_warmup_epochs=0))
    crit.model.assign_epoch = 0
    assert crit.warmup_assigner is None and crit.current_assigner().spec == "tal"


def test_tal_trains_with_its_soft_targets():
    """Through the real criterion: the objectness targets at positives are TAL's normalised alignments."""
    crit = YOLOv5Criterion(tiny_model(assigner="tal"))
    seen = capture_objectness(crit)
    p = torch.randn(1, 1, 2, 2, 7, generator=torch.Generator().manual_seed(0))
    p[..., :4] = 0.0  # zero box logits decode to the 8x8 box at each cell centre: cell (0, 0) is the target
    crit({"preds": [p]}, batch_one())
    out = build_assigner("tal")(
        torch.tensor([[0.0, 1.0, 0.25, 0.25, 0.5, 0.5]]), crit.head.anchor_px, crit.head.stride, [(2, 2)],
        crit.decoded([p]), crit.scores([p]), batch_size=1)
    lt = out[0]
    assert lt.num >= 1 and torch.allclose(seen[-1][0][lt.b, lt.a, lt.gj, lt.gi], lt.quality)
    assert math.isclose(float(seen[-1][0].sum()), float(lt.quality.sum()), rel_tol=1e-6)


def test_the_auxiliary_head_follows_the_warmup():
    from yolo_ext.criterion.aux import AuxModelView

    model = tiny_model(assigner="tal", assigner_warmup="atss", assigner_warmup_epochs=2)
    crit = YOLOv5Criterion(AuxModelView(model, {"assigner": "tal"}))
    model.assign_epoch = 1
    assert crit.current_assigner().spec == "atss"
    model.assign_epoch = 2
    assert crit.current_assigner().spec == "tal"
