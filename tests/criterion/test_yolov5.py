"""YOLOv5 criterion: a hand-computed case, zero targets, ignore mask, weights, gain scaling, loss decreases."""

import math
from types import SimpleNamespace

import pytest
import torch

import yolo_ext  # noqa: F401
from yolo_ext.criterion import YOLOv5Criterion, scaled_gains
from yolo_ext.nn.head import AnchorDetect


def tiny_model(nc=2, **ext):
    head = AnchorDetect(nc, [[8, 8]], [4])
    head.stride = torch.tensor([8.0])
    args = SimpleNamespace(box=0.05, cls=0.5, imgsz=16, scale_gains=False, **ext)
    return SimpleNamespace(args=args, model=[head])


def batch_one(cls=1.0):
    # image 16x16, grid 2x2 (stride 8), target centre (4, 4) px = grid (0.5, 0.5), size 8x8 px = 1 cell = 1 anchor
    return {"batch_idx": torch.tensor([0.0]), "cls": torch.tensor([[cls]]), "bboxes": torch.tensor([[0.25, 0.25, 0.5, 0.5]])}


def test_hand_computed_case():
    crit = YOLOv5Criterion(tiny_model())
    p = torch.zeros(1, 1, 2, 2, 7)
    p[0, 0, 0, 0, 0] = math.log(3)  # sigmoid 0.75 -> pxy_x = 1.0 vs target 0.5
    p[0, 0, 0, 0, 4] = 2.0  # objectness logit at the positive
    loss, items = crit({"preds": [p], "feats": None}, batch_one())
    iou = 1 / 3  # 0.5 x 1 overlap over a 1.5 union
    ciou = iou - 0.25 / (1.5**2 + 1.0**2)  # + centre distance term (rho^2 / c^2); equal aspect: v = 0
    lbox = 1 - ciou
    tobj = ciou
    bce = lambda x, t: -(t * math.log(1 / (1 + math.exp(-x))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-x))))
    lobj = 4.0 * (bce(2.0, tobj) + 3 * math.log(2)) / 4  # balance 4.0 for a single level, mean over 4 cells
    lcls = math.log(2)  # logits 0 against one-hot targets
    assert items["box_loss"].item() == pytest.approx(lbox * 0.05, rel=1e-5)
    assert items["obj_loss"].item() == pytest.approx(lobj * 1.0, rel=1e-5)
    assert items["cls_loss"].item() == pytest.approx(lcls * 0.5, rel=1e-5)
    assert loss.sum().item() == pytest.approx(0.05 * lbox + lobj + 0.5 * lcls, rel=1e-5)


def test_single_class_has_no_class_loss():
    crit = YOLOv5Criterion(tiny_model(nc=1))
    _, items = crit({"preds": [torch.randn(1, 1, 2, 2, 6)]}, batch_one(cls=0.0))
    assert items["cls_loss"].item() == 0


def test_zero_targets_objectness_only_and_finite():
    crit = YOLOv5Criterion(tiny_model())
    p = torch.randn(2, 1, 2, 2, 7, requires_grad=True)
    empty = {"batch_idx": torch.zeros(0), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4)}
    loss, items = crit({"preds": [p]}, empty)
    assert torch.isfinite(loss).all() and items["box_loss"] == 0 and items["cls_loss"] == 0 and items["obj_loss"] > 0
    loss.sum().backward()
    assert torch.isfinite(p.grad).all() and p.grad[..., 4].abs().sum() > 0 and p.grad[..., :4].abs().sum() == 0


def test_eval_tuple_accepted():
    crit = YOLOv5Criterion(tiny_model())
    p = torch.randn(1, 1, 2, 2, 7)
    a = crit({"preds": [p]}, batch_one())[0]
    b = crit((torch.zeros(1), {"preds": [p]}), batch_one())[0]
    assert torch.equal(a, b)


def test_ignore_mask_removes_negatives_from_obj_mean():
    crit = YOLOv5Criterion(tiny_model())
    p = torch.zeros(1, 1, 2, 2, 7)
    tobj = torch.zeros(1, 1, 2, 2)
    tobj[0, 0, 0, 0] = 1.0
    pos = tobj > 0
    ignore = torch.zeros(1, 1, 2, 2, dtype=torch.bool)
    ignore[0, 0, 1, 1] = True
    ignore[0, 0, 0, 0] = True  # a positive is never ignored
    p[0, 0, 1, 1, 4] = 5.0  # a confident negative: large loss if counted
    full = crit.objectness([(p[..., 4], tobj, pos, None)])
    part = crit.objectness([(p[..., 4], tobj, pos, ignore)])
    assert part.item() == pytest.approx(4.0 * math.log(2))  # balance 4.0; the three remaining cells have logit 0
    assert full.item() > part.item()


def test_pos_normalisation_and_ohem_hand_case():
    """obj_norm=pos: sum over counted cells / positives; OHEM with ratio 1 keeps the single hardest negative."""
    crit = YOLOv5Criterion(tiny_model(obj_loss="bce", obj_norm="pos", ohem=True, ohem_ratio=1.0, ohem_min_neg=0))
    x = torch.tensor([[[[2.0, -1.0], [3.0, 0.0]]]])  # (1, 1, 2, 2) objectness logits
    t = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    bce = lambda z, y: math.log1p(math.exp(-z)) if y else math.log1p(math.exp(z))  # noqa: E731
    got = crit.objectness([(x, t, t > 0, None)])
    assert got.item() == pytest.approx(bce(2.0, 1) + bce(3.0, 0), rel=1e-6)  # hardest negative: logit 3
    crit.ohem = False
    assert crit.objectness([(x, t, t > 0, None)]).item() == pytest.approx(
        bce(2.0, 1) + bce(-1.0, 0) + bce(3.0, 0) + bce(0.0, 0), rel=1e-6)


@pytest.mark.parametrize("name", ["bce", "focal", "qfl", "vfl"])
def test_every_loss_finite_with_and_without_positives(name):
    crit = YOLOv5Criterion(tiny_model(nc=3, obj_loss=name, cls_loss=name))
    p = torch.randn(2, 1, 2, 2, 8)
    p[..., 4:] *= 30  # saturated objectness / class logits (the box branch is YOLOv5's CIoU, unchanged)
    p.requires_grad_()
    empty = {"batch_idx": torch.zeros(0), "cls": torch.zeros(0, 1), "bboxes": torch.zeros(0, 4)}
    for b in (empty, batch_one()):
        loss, _ = crit({"preds": [p]}, b)
        assert torch.isfinite(loss).all()
        (g,) = torch.autograd.grad(loss.sum(), p)
        assert torch.isfinite(g).all()


def test_loss_balance_monitor_and_adaptation():
    from yolo_ext.criterion import LossBalance

    args = SimpleNamespace(balance_target=0.5, adapt_obj_gain=True, obj_gain_scale=1.0)
    m = LossBalance(args)
    m.accumulate(torch.tensor([1.0, 1.0, 0.0]))
    m.accumulate(torch.tensor([1.0, 1.0, 0.0]))
    out = m.end_epoch()
    assert out["box_obj_ratio"] == pytest.approx(1.0)  # box twice the target share: obj gain goes up
    assert out["obj_gain_scale"] == pytest.approx(math.sqrt(2)) and args.obj_gain_scale == pytest.approx(math.sqrt(2))
    m.accumulate(torch.tensor([1.0, 100.0, 0.0]))
    assert m.end_epoch()["obj_gain_scale"] == pytest.approx(math.sqrt(2) * 0.5)  # clipped at x0.5 per epoch
    assert m.end_epoch() == {}  # nothing accumulated


def test_autobalance_rejects_joint_normalisation():
    with pytest.raises(ValueError, match="autobalance"):
        YOLOv5Criterion(tiny_model(obj_loss="vfl", autobalance=True))


def test_assigner_weights_scale_box_and_obj_target():
    from yolo_ext.assign.types import Assignment, LevelTargets

    model = tiny_model()
    crit = YOLOv5Criterion(model)
    z = torch.zeros(1, dtype=torch.long)

    def fixed(weight):
        return lambda *a, **k: Assignment([LevelTargets(z, z, z, z, z, torch.tensor([weight]), None)], {})

    p = torch.zeros(1, 1, 2, 2, 7)
    p[0, 0, 0, 0, 0] = math.log(3)
    p[0, 0, 0, 0, 4] = 2.0  # with obj logit 0 the BCE would not depend on the target
    crit.assigner = fixed(1.0)
    _, full = crit({"preds": [p]}, batch_one())
    crit.assigner = fixed(0.5)
    _, half = crit({"preds": [p]}, batch_one())
    assert half["box_loss"].item() == pytest.approx(full["box_loss"].item() / 2, rel=1e-6)
    assert half["obj_loss"].item() != pytest.approx(full["obj_loss"].item())
    crit.weight_box = crit.weight_obj = False
    _, off = crit({"preds": [p]}, batch_one())
    assert off["box_loss"].item() == pytest.approx(full["box_loss"].item()) and off["obj_loss"] == full["obj_loss"]


def test_yolov5_gain_scaling():
    args = SimpleNamespace(box=0.05, cls=0.5, obj=1.0, imgsz=320, scale_gains=True)
    g = scaled_gains(args, nl=3, nc=1)
    assert g == pytest.approx({"box": 0.05, "cls": 0.5 / 80, "obj": (320 / 640) ** 2})
    g4 = scaled_gains(args, nl=4, nc=80)
    assert g4 == pytest.approx({"box": 0.05 * 3 / 4, "cls": 0.5 * 3 / 4, "obj": 0.25 * 3 / 4})
