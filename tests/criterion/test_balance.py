"""Loss balance: the documented adaptation rule, write-back into namespace or dict args, and the EMA model's
criterion (validation losses) using the same, current obj gain as the training criterion."""

import math
from types import SimpleNamespace

import pytest
import torch
from ultralytics.utils import DEFAULT_CFG
from ultralytics.utils.torch_utils import ModelEMA

import yolo_ext  # noqa: F401
from yolo_ext.config.errors import ConfigError
from yolo_ext.config.defaults import trainer_base_cfg
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.criterion import BalanceConfig, LossBalance, YOLOv5Criterion
from yolo_ext.engine import AnchorDetectionModel

from helpers import fixed_batch


@pytest.mark.parametrize("as_dict", [False, True])
def test_loss_balance_monitor_and_adaptation(as_dict):
    args = dict(balance_target=0.5, adapt_obj_gain=True, obj_gain_scale=1.0)
    args = args if as_dict else SimpleNamespace(**args)
    get = (lambda: args["obj_gain_scale"]) if as_dict else (lambda: args.obj_gain_scale)
    m = LossBalance(BalanceConfig.from_args(args))
    m.accumulate(torch.tensor([1.0, 1.0, 0.0]))
    m.accumulate(torch.tensor([1.0, 1.0, 0.0]))
    out = m.end_epoch(args)
    assert out["box_obj_ratio"] == pytest.approx(1.0)  # box twice the target share: obj gain goes up
    assert out["obj_gain_scale"] == pytest.approx(math.sqrt(2)) and get() == pytest.approx(math.sqrt(2))
    m.accumulate(torch.tensor([1.0, 100.0, 0.0]))
    assert m.end_epoch(args)["obj_gain_scale"] == pytest.approx(math.sqrt(2) * 0.5)  # clipped at x0.5 per epoch
    assert m.end_epoch(args) == {}  # nothing accumulated


def test_monitor_only_leaves_the_scale_alone():
    args = SimpleNamespace(balance_target=0.5, adapt_obj_gain=False, obj_gain_scale=3.0)
    m = LossBalance(BalanceConfig.from_args(args))
    m.accumulate(torch.tensor([4.0, 1.0, 0.0]))
    assert m.end_epoch(args) == {"box_obj_ratio": 4.0, "obj_gain_scale": 3.0} and args.obj_gain_scale == 3.0


def test_balance_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="balance_target=0.0: must be > 0"):
        BalanceConfig.from_args({"balance_target": 0.0})
    with pytest.raises(ConfigError, match="adapt_obj_gain='maybe': expected true or false"):
        BalanceConfig.from_args({"adapt_obj_gain": "maybe"})
    m = LossBalance(BalanceConfig.from_args({}))
    m.accumulate(torch.ones(3))
    with pytest.raises(ConfigError, match="obj_gain_scale=-1.0: must be > 0"):
        m.end_epoch({"obj_gain_scale": -1.0})


def test_ema_criterion_uses_the_current_obj_gain_scale():
    """As the trainer does it: train, ``criterion.update()`` (adapt_obj_gain rewrites args.obj_gain_scale),
    ``ModelEMA.update_attr`` (hands the EMA model the training model's args), validate on the EMA model."""
    torch.manual_seed(0)
    model = AnchorDetectionModel(str(resolve_model_cfg("yolov5n-1a.yaml")), nc=1, verbose=False)
    model.args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": 64, "adapt_obj_gain": True})
    ema = ModelEMA(model)
    batch = fixed_batch(imgsz=64)
    scales = []
    for _ in range(3):
        for _ in range(2):
            model.loss(batch)
        model.criterion.update()
        ema.update_attr(model, include=["yaml", "nc", "args", "names", "stride", "class_weights"])
        ema.ema.loss(batch)  # validation loss; the EMA criterion is built on the first epoch's call
        scales.append(model.args.obj_gain_scale)
    assert len(set(scales)) == 3 and scales[-1] != 1.0, scales  # the scale moved every epoch
    with torch.no_grad():
        preds = ema.ema(batch["img"])
        _, val = ema.ema.criterion(preds, batch)
        _, train = model.criterion(preds, batch)
        _, fresh = YOLOv5Criterion(ema.ema)(preds, batch)
    assert val["obj_loss"] == fresh["obj_loss"] == train["obj_loss"]
    assert val["box_loss"] == train["box_loss"]
