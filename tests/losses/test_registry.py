"""The loss registry: one LossSpec per name, get_loss, describe_losses, and what derives from LOSSES at call time."""

import inspect

import pytest
import torch

from yolo_ext.config.defaults import ext_defaults, loss_param_defaults
from yolo_ext.losses import LOSSES, NORM_MODES, LossSpec, describe_losses, get_loss, loss_spec
from yolo_ext.losses.functions import bce, vfl


def grid():
    xs = torch.tensor([-3.0, -0.7, 0.0, 0.4, 2.5], dtype=torch.float64).repeat_interleave(3)
    ts = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64).repeat(5)
    return xs, ts


def toy(pred, target, tau=2.0):
    return tau * bce(pred, target)


def test_registries_consistent():
    assert set(LOSSES) == {"bce", "focal", "qfl", "vfl"}
    for name, spec in LOSSES.items():
        assert isinstance(spec, LossSpec) and spec.default_norm in NORM_MODES, name
        sig_params = list(inspect.signature(spec.fn).parameters.values())[2:]
        assert {p.name: p.default for p in sig_params} == spec.params, name
        assert spec.takes_pos_weight, name
    assert {n: s.default_norm for n, s in LOSSES.items()} == {"bce": "mean", "focal": "pos", "qfl": "pos", "vfl": "pos"}
    assert {n for n, s in LOSSES.items() if s.soft_targets} == {"qfl", "vfl"}
    assert LOSSES["focal"].params["gamma"] == 1.5 and LOSSES["focal"].params["alpha"] == 0.25
    assert LOSSES["qfl"].params["beta"] == 2.0
    assert LOSSES["vfl"].params["alpha"] == 0.75 and LOSSES["vfl"].params["gamma"] == 2.0


def test_get_loss_binds_and_validates():
    f = get_loss("vfl", gamma=3.0)
    assert f.keywords == {"alpha": 0.75, "gamma": 3.0, "pos_weight": 1.0}
    x, t = grid()
    torch.testing.assert_close(f(x, t), vfl(x, t, gamma=3.0))
    with pytest.raises(ValueError, match="bce, focal, qfl, vfl"):
        get_loss("varifocal")
    with pytest.raises(ValueError, match="valid losses: bce, focal, qfl, vfl"):
        loss_spec("varifocal")
    with pytest.raises(ValueError, match="valid parameters: beta, pos_weight"):
        get_loss("qfl", gamma=2.0)
    for name, bad in [("focal", {"alpha": 1.5}), ("focal", {"gamma": -1}), ("qfl", {"beta": -0.1}),
                      ("vfl", {"alpha": -1}), ("bce", {"pos_weight": 0.0}),
                      ("bce", {"pos_weight": torch.tensor([1.0, -1.0])})]:
        with pytest.raises(ValueError, match="outside|> 0"):
            get_loss(name, **bad)


def test_spec_rejects_bad_records():
    with pytest.raises(ValueError, match="default_norm='avg'; valid modes: mean, sum, pos, target_sum"):
        LossSpec(toy, {"tau": 2.0}, "avg")
    with pytest.raises(TypeError, match=r"\['gamma'\] are not parameters of toy"):
        LossSpec(toy, {"gamma": 2.0}, "mean")
    with pytest.raises(TypeError, match="callable"):
        LossSpec("toy", {}, "mean")
    with pytest.raises(TypeError, match="soft_targets"):
        LossSpec(toy, {}, "mean", soft_targets="yes")
    spec = LossSpec(toy, {"tau": 2.0}, "pos")
    assert not spec.takes_pos_weight and not spec.soft_targets
    with pytest.raises(AttributeError):
        spec.default_norm = "mean"  # frozen


def test_a_registered_loss_is_picked_up_at_call_time(monkeypatch):
    assert "toy_tau" not in loss_param_defaults()
    monkeypatch.setitem(LOSSES, "toy", LossSpec(toy, {"tau": 2.0}, "pos", description="a test loss"))
    assert loss_param_defaults()["toy_tau"] == 2.0 and ext_defaults()["toy_tau"] == 2.0
    assert "pos_weight" not in str(loss_param_defaults())  # pos_weight is obj_pw / cls_pos_weight
    x, t = grid()
    torch.testing.assert_close(get_loss("toy", tau=3.0)(x, t), 3.0 * bce(x, t))
    with pytest.raises(ValueError, match="valid parameters: tau"):
        get_loss("toy", pos_weight=2.0)
    line = describe_losses().splitlines()[-1]
    assert line.split()[0] == "toy" and "norm pos" in line and "toy_tau=2.0" in line and "a test loss" in line


def test_describe_losses_one_line_per_loss():
    lines = describe_losses().splitlines()
    assert [ln.split()[0] for ln in lines] == list(LOSSES)
    by_name = dict(zip(LOSSES, lines))
    assert "norm mean" in by_name["bce"] and "hard class targets" in by_name["bce"] and "pos_weight" in by_name["bce"]
    assert "norm pos" in by_name["vfl"] and "soft (IoU) class targets" in by_name["vfl"]
    assert "focal_gamma=1.5" in by_name["focal"] and "focal_alpha=0.25" in by_name["focal"]
