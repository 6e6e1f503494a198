"""The training-only auxiliary head and its loss: equal to the lead criterion on the auxiliary maps times aux_weight,
its own assigner, trained jointly (its loss goes down), switched on by the YAML or the key, gone after fuse()."""

from types import SimpleNamespace

import pytest
import torch
import yaml
from ultralytics.utils import DEFAULT_CFG

import yolo_ext  # noqa: F401
from yolo_ext.config.defaults import trainer_base_cfg
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.criterion import AuxCriterion, YOLOv5Criterion
from yolo_ext.engine import AnchorDetectionModel

from helpers import fixed_batch, overfit, randomise_bn

FACE = str(resolve_model_cfg("face-vgg-fpn.yaml"))


def model_with_aux(cfg=FACE, **args):
    torch.manual_seed(0)
    m = AnchorDetectionModel(cfg, nc=1, verbose=False)
    assert m.add_aux_head() and not m.add_aux_head()
    m.args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": 64, **args})
    return m


def aux_yaml(tmp_path, value=True, src="face-vgg-fpn-rep.yaml"):
    d = yaml.safe_load(resolve_model_cfg(src).read_text())
    d["aux_head"] = value
    p = tmp_path / "face-aux.yaml"
    p.write_text(yaml.safe_dump(d))
    return str(p)


def test_aux_loss_is_the_lead_loss_on_the_aux_maps_times_the_weight():
    m = model_with_aux(aux_weight=0.3)
    with torch.no_grad():  # an auxiliary head identical to the lead head: its loss is the lead loss exactly
        for a, c in zip(m.head.aux, m.head.cv2):
            a.weight.copy_(c.weight)
            a.bias.copy_(c.bias)
    batch = fixed_batch(imgsz=64)
    loss, items = m.loss(batch)
    assert isinstance(m.criterion, AuxCriterion) and list(items) == ["box_loss", "obj_loss", "cls_loss", "aux_loss"]
    plain = YOLOv5Criterion(m)(m(batch["img"]), batch)[0]
    torch.testing.assert_close(loss[:3], plain)
    torch.testing.assert_close(loss[3], 0.3 * plain.sum())
    torch.testing.assert_close(items["aux_loss"], 0.3 * plain.sum() / 2)  # items are per image (batch of 2)


def test_zero_weight_adds_nothing_and_sends_no_gradient():
    m = model_with_aux(aux_weight=0.0)
    loss, items = m.loss(fixed_batch(imgsz=64))
    assert float(loss[3]) == 0.0 and float(items["aux_loss"]) == 0.0
    loss.sum().backward()
    assert all(float(a.weight.grad.abs().sum()) == 0 for a in m.head.aux)
    assert float(m.head.cv2[0].weight.grad.abs().sum()) > 0


def test_aux_assigner_is_its_own():
    m = model_with_aux(aux_assigner="radius")
    m.loss(fixed_batch(imgsz=64))
    assert m.criterion.main.config.assigner == "yolov5" and m.criterion.aux.config.assigner == "radius"
    m = model_with_aux()
    m.loss(fixed_batch(imgsz=64))
    assert m.criterion.aux.config.assigner == "yolov5"  # '' = the main assigner


def test_epoch_stats_are_the_lead_heads_with_its_targets():
    """The wrapper's epoch counters are the lead criterion's: its positives and the batches' targets (not doubled
    by the auxiliary head's call on the same batch)."""
    m = model_with_aux(aux_assigner="radius")
    batch = fixed_batch(imgsz=64)  # 2 images x 4 targets
    for _ in range(2):
        m.loss(batch)
    m.criterion.update()
    stats = m.criterion.last_epoch_stats
    assert stats is m.criterion.main.last_epoch_stats and list(stats)[:2] == ["positives", "targets"]
    assert stats["targets"] == 16.0 and stats["positives"] > 0


def test_aux_loss_goes_down_when_trained_jointly(tmp_path):
    cfg = aux_yaml(tmp_path, src="face-vgg-fpn.yaml")
    _, _, hist = overfit(cfg, steps=12, imgsz=64, aux_assigner="radius", aux_weight=0.5)
    aux = [h["aux_loss"] for h in hist]
    assert aux[-1] < 0.9 * aux[0], aux
    assert hist[-1]["total"] < 0.9 * hist[0]["total"]
    # the auxiliary loss is in the total: total = box + obj + cls + aux (per image, x batch size 2)
    h = hist[0]
    assert h["total"] == pytest.approx(2 * (h["box_loss"] + h["obj_loss"] + h["cls_loss"] + h["aux_loss"]), rel=1e-5)


def test_model_yaml_switches_it_on(tmp_path):
    m = AnchorDetectionModel(aux_yaml(tmp_path), nc=1, verbose=False)
    assert m.head.has_aux and len(m.head.aux) == 3
    assert [a.weight.shape for a in m.head.aux] == [c.weight.shape for c in m.head.cv2]
    for a, c in zip(m.head.aux, m.head.cv2):  # the same YOLOv5 objectness prior (log(8 / cells)) on both heads
        assert torch.allclose(a.bias.view(1, 6)[:, 4], c.bias.view(1, 6)[:, 4], atol=0.5)
        assert float(a.bias.view(1, 6)[0, 4]) < -2
    with pytest.raises(ValueError, match="aux_head must be true or false"):
        AnchorDetectionModel(aux_yaml(tmp_path, "yes"), nc=1, verbose=False)
    assert not AnchorDetectionModel(FACE, nc=1, verbose=False).head.has_aux


def test_outputs_carry_aux_maps_except_in_export_mode():
    m = model_with_aux()
    x = torch.rand(1, 3, 64, 64)
    assert "aux" in m.train()(x)
    y, raw = m.eval()(x)
    assert len(raw["aux"]) == 3 and raw["aux"][0].shape == raw["preds"][0].shape
    m.head.export = True
    out = m(x)
    m.head.export = False
    torch.testing.assert_close(out, y)  # the lead head alone decides the outputs


def test_fuse_drops_it_leaving_exactly_the_plain_model(tmp_path):
    rep = randomise_bn(AnchorDetectionModel(aux_yaml(tmp_path), nc=1, verbose=False), seed=3)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        y0 = rep.eval()(x)[0]
    assert any("aux" in k for k in rep.state_dict())
    rep.fuse(verbose=False)
    assert not rep.head.has_aux and rep.criterion is None
    plain = AnchorDetectionModel(FACE, nc=1, verbose=False).fuse(verbose=False)
    assert {k: v.shape for k, v in rep.state_dict().items()} == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(rep.state_dict())  # strict
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(x)[0], y0, atol=1e-3, rtol=1e-4)


def test_unfused_checkpoint_with_aux_loads_into_the_plain_yaml(tmp_path):
    src = AnchorDetectionModel(aux_yaml(tmp_path, src="face-vgg-fpn.yaml"), nc=1, verbose=False)
    plain = AnchorDetectionModel(FACE, nc=1, verbose=False)
    plain.load({"model": src, "ema": None}, verbose=False)  # every plain tensor transferred, aux ignored
    for k, v in plain.state_dict().items():
        torch.testing.assert_close(v, src.state_dict()[k])
    assert not plain.head.has_aux


def test_plain_checkpoint_loads_into_a_model_with_aux_head():
    """--weights of a plain model with aux_head=true: the lead head loads, the auxiliary head starts at its init."""
    src = AnchorDetectionModel(FACE, nc=1, verbose=False)
    m = model_with_aux()
    aux_before = {k: v.clone() for k, v in m.state_dict().items() if ".aux." in k}
    n = m.load({"model": src, "ema": None}, verbose=False)
    assert n == len(src.state_dict())
    for k, v in src.state_dict().items():
        torch.testing.assert_close(m.state_dict()[k], v)
    for k, v in aux_before.items():
        torch.testing.assert_close(m.state_dict()[k], v)


def test_checkpoints_from_before_the_aux_head_still_run():
    m = AnchorDetectionModel(FACE, nc=1, verbose=False)
    del m.head.aux  # a head pickled before the attribute existed
    assert not m.head.has_aux and m.eval()(torch.rand(1, 3, 64, 64))[0].shape == (1, 5, 84)
    m.fuse(verbose=False)


def test_negative_weight_is_refused_when_the_criterion_is_built():
    m = model_with_aux(aux_weight=-1.0)
    with pytest.raises(ValueError, match="aux_weight"):
        m.loss(fixed_batch(imgsz=64))
