"""YOLOv5 criterion: a hand-computed case, zero targets, ignore mask, weights, gain scaling, loss decreases."""

import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

import yolo_ext  # noqa: F401
from yolo_ext.criterion import CriterionConfig, YOLOv5Criterion, scaled_gains
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
    crit.config = replace(crit.config, ohem=False)
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
    crit.config = replace(crit.config, assign_weight_box=False, assign_weight_obj=False)
    _, off = crit({"preds": [p]}, batch_one())
    assert off["box_loss"].item() == pytest.approx(full["box_loss"].item()) and off["obj_loss"] == full["obj_loss"]


def test_yolov5_gain_scaling():
    args = SimpleNamespace(box=0.05, cls=0.5, obj=1.0, imgsz=320, scale_gains=True)
    g = scaled_gains(CriterionConfig.from_args(args), nl=3, nc=1)
    assert g == pytest.approx({"box": 0.05, "cls": 0.5 / 80, "obj": (320 / 640) ** 2})
    g4 = scaled_gains(CriterionConfig.from_args(args), nl=4, nc=80)
    assert g4 == pytest.approx({"box": 0.05 * 3 / 4, "cls": 0.5 * 3 / 4, "obj": 0.25 * 3 / 4})


def test_cls_label_smoothing_reaches_the_class_targets():
    """YOLOv5's smooth_BCE epsilon is ``cls_label_smoothing``: ultralytics' get_cfg drops a key named
    ``label_smoothing``, so the value is read from a key that survives the cfg machinery."""
    from ultralytics.cfg import get_cfg
    from ultralytics.utils import DEFAULT_CFG

    from yolo_ext.config.defaults import trainer_base_cfg

    head = AnchorDetect(2, [[8, 8]], [4])
    head.stride = torch.tensor([8.0])
    args = get_cfg(trainer_base_cfg(DEFAULT_CFG), {"cls_label_smoothing": 0.2, "imgsz": 16, "scale_gains": False})
    crit = YOLOv5Criterion(SimpleNamespace(args=args, model=[head]))
    t = crit.class_targets(torch.zeros(2, 2), torch.tensor([1, 0]), torch.ones(2))
    torch.testing.assert_close(t, torch.tensor([[0.1, 0.9], [0.9, 0.1]]))
    p = torch.zeros(1, 1, 2, 2, 7)
    p[0, 0, 0, 0, 5:7] = torch.tensor([1.0, -1.0])  # class logits of the positive (class 1)
    bce = lambda x, y: math.log1p(math.exp(-x)) * y + math.log1p(math.exp(x)) * (1 - y)  # noqa: E731
    _, smooth = crit({"preds": [p]}, batch_one(cls=1.0))
    assert smooth["cls_loss"].item() == pytest.approx(args.cls * (bce(1.0, 0.1) + bce(-1.0, 0.9)) / 2, rel=1e-6)
    _, hard = YOLOv5Criterion(tiny_model())({"preds": [p]}, batch_one(cls=1.0))
    assert hard["cls_loss"].item() == pytest.approx(0.5 * (bce(1.0, 0.0) + bce(-1.0, 1.0)) / 2, rel=1e-6)


def test_objectness_targets_are_placed_with_ops_cell_key(monkeypatch):
    import yolo_ext.criterion.yolov5 as module
    from yolo_ext.ops import cell_key

    calls = []
    monkeypatch.setattr(module, "cell_key", lambda *a: calls.append(a[4:]) or cell_key(*a))
    _, items = YOLOv5Criterion(tiny_model())({"preds": [torch.zeros(1, 1, 2, 2, 7)]}, batch_one())
    assert calls == [(1, 2, 2)] and items["obj_loss"] > 0  # (na, ny, nx) of the one level with a positive


def test_no_grad_is_left_to_the_assigner():
    crit = YOLOv5Criterion(tiny_model())
    assigner, seen = crit.assigner, []
    positives = assigner.base.positives
    assigner.base.positives = lambda *a: seen.append(("inside", torch.is_grad_enabled())) or positives(*a)
    crit.assigner = lambda *a, **k: seen.append(("call", torch.is_grad_enabled())) or assigner(*a, **k)
    crit({"preds": [torch.zeros(1, 1, 2, 2, 7, requires_grad=True)]}, batch_one())
    assert seen == [("call", True), ("inside", False)]  # no no_grad of the criterion's own; the assigner's holds


@pytest.mark.parametrize("ext", [dict(autobalance=True), dict(obj_loss="vfl", cls_loss="qfl"), dict(cls_norm="pos")])
def test_no_host_sync_per_batch(monkeypatch, ext):
    """Nothing in a criterion call turns a tensor into a Python value or copies host data to the device (on a GPU
    each would stall the step); counters are converted once, in ``update()``. The assigner is replaced by its fixed
    output (its syncs are its own)."""
    from yolo_ext.assign.types import Assignment

    crit = YOLOv5Criterion(tiny_model(nc=3, **ext))
    crit.class_weights = torch.tensor([1.0, 2.0, 0.5])
    batch = {"batch_idx": torch.tensor([0.0, 1.0]), "cls": torch.tensor([[1.0], [2.0]]),
             "bboxes": torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.7, 0.6, 0.4, 0.5]])}
    out = crit.assigner(crit.targets(batch, "cpu"), crit.head.anchor_px, crit.head.stride, [(2, 2)])
    assert out.levels[0].b.shape[0] > 0
    fixed = Assignment(out.levels, {"positives": torch.tensor(2.0), "ignored": 1.0})  # 0-d tensors or numbers
    crit.assigner = lambda *a, **k: fixed
    p = torch.randn(2, 1, 2, 2, 8, requires_grad=True)

    def forbid(name):
        def f(*a, **k):
            raise AssertionError(f"host sync in the criterion: {name}")
        return f

    crit({"preds": [p]}, batch)  # first batch: the autobalance weights move to the device once
    for name in ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__", "new_tensor"):
        monkeypatch.setattr(torch.Tensor, name, forbid(name))
    monkeypatch.setattr(torch, "tensor", forbid("torch.tensor (a host-to-device copy)"))
    as_tensor = torch.as_tensor
    monkeypatch.setattr(
        torch, "as_tensor", lambda x, *a, **k: as_tensor(x, *a, **k) if torch.is_tensor(x) else forbid("as_tensor")())
    for _ in range(2):
        loss, _ = crit({"preds": [p]}, batch)
        loss.sum().backward()
    monkeypatch.undo()
    crit.update()
    assert crit.last_epoch_stats["positives"] == 6.0 and crit.last_epoch_stats["ignored"] == 3.0
    assert crit.last_epoch_stats["targets"] == 6.0  # 3 batches of 2 targets, counted from the shape (no sync)
    assert list(crit.last_epoch_stats)[:3] == ["positives", "targets", "ignored"]  # positives first (claims.py)
    assert all(type(v) is float for v in crit.last_epoch_stats.values()) and crit.epoch_stats == {}
