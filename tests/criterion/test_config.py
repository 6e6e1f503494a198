"""CriterionConfig: settings read once from namespace or dict args, typed, with errors naming key and value; the
criterion on a model loaded from a checkpoint (``model.args`` a dict after ``strip_optimizer``)."""

from copy import deepcopy
from types import SimpleNamespace

import pytest
import torch
from ultralytics.utils import DEFAULT_CFG, IterableSimpleNamespace

import yolo_ext  # noqa: F401
from yolo_ext.config.errors import ConfigError
from yolo_ext.config.defaults import trainer_base_cfg
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.criterion import CriterionConfig, YOLOv5Criterion
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.losses import LOSSES, LossSpec, bce

from helpers import fixed_batch


def base_args(**over) -> dict:
    return {**trainer_base_cfg(DEFAULT_CFG), "imgsz": 64, **over}


def test_namespace_and_dict_give_the_same_config():
    args = base_args(obj_loss="focal", focal_gamma=2, cls_norm="sum", imgsz=[48, 64], ohem_min_neg=8.0)
    a, b = CriterionConfig.from_args(SimpleNamespace(**args)), CriterionConfig.from_args(args)
    assert a == b
    assert a.imgsz == 64.0 and a.ohem_min_neg == 8 and type(a.ohem_min_neg) is int
    assert a.obj_loss.name == "focal" and a.obj_loss.norm == "pos"  # auto -> the spec's default_norm
    assert a.obj_loss.params == {"gamma": 2.0, "alpha": 0.25, "pos_weight": 1.0}
    assert type(a.obj_loss.params["gamma"]) is float
    assert a.cls_loss.norm == "sum" and a.balance.target == 0.5 and a.balance.adapt is False
    with pytest.raises(AttributeError):
        a.obj = 2.0  # frozen


def test_absent_keys_get_their_defaults():
    cfg = CriterionConfig.from_args({})
    assert (cfg.box, cfg.obj, cfg.cls, cfg.imgsz, cfg.assigner) == (0.05, 1.0, 0.5, 640.0, "yolov5")
    assert cfg.obj_loss.name == cfg.cls_loss.name == "bce" and cfg.obj_loss.norm == "mean"


@pytest.mark.parametrize("over, match", [  # every check is yolo_ext.config.validate's (one ConfigError type)
    ({"adapt_obj_gain": "maybe"}, "adapt_obj_gain='maybe': expected true or false"),
    ({"ohem": "nope"}, "ohem='nope': expected true or false"),
    ({"autobalance": 1}, "autobalance=1: expected true or false"),
    ({"obj": "abc"}, "obj='abc': expected a number"),
    ({"cls_label_smoothing": True}, "cls_label_smoothing=True: expected a number"),
    ({"ohem_min_neg": 2.5}, "ohem_min_neg=2.5: expected an integer"),
    ({"obj_norm": "foo"}, "obj_norm='foo': must be one of auto, mean, sum, pos, target_sum"),
    ({"obj_loss": "focall"}, "obj_loss='focall': must be one of bce, focal, qfl, vfl"),
    ({"cls_loss": "focal", "focal_gamma": -1.0}, "focal_gamma=-1.0: .*gamma"),
    ({"obj_pw": 0.0}, "obj_pw=0.0: must be > 0"),
    ({"autobalance": True, "obj_loss": "vfl"}, "autobalance=true .* obj_norm='pos'"),
    ({"obj_gain_scale": 0.0}, "obj_gain_scale=0.0: must be > 0"),
    ({"balance_target": -1.0}, "balance_target=-1.0: must be > 0"),
])
def test_bad_settings_name_the_key_and_value(over, match):
    with pytest.raises(ConfigError, match=match):
        CriterionConfig.from_args(base_args(**over))


def test_a_loss_without_pos_weight_accepts_only_the_default(monkeypatch):
    monkeypatch.setitem(LOSSES, "toy", LossSpec(lambda pred, target: bce(pred, target), {}, "mean"))
    assert CriterionConfig.from_args(base_args(obj_loss="toy")).obj_loss.params == {}
    with pytest.raises(ConfigError, match="obj_pw=2.0: obj_loss='toy' takes no pos_weight"):
        CriterionConfig.from_args(base_args(obj_loss="toy", obj_pw=2.0))


def test_settings_are_read_once_except_the_obj_gain_scale():
    torch.manual_seed(0)
    model = AnchorDetectionModel(str(resolve_model_cfg("yolov5n-1a.yaml")), nc=1, verbose=False)
    model.args = SimpleNamespace(**base_args())
    batch = fixed_batch(imgsz=64)
    preds = model(batch["img"])
    crit = YOLOv5Criterion(model)
    _, before = crit(preds, batch)
    model.args.obj, model.args.box, model.args.obj_loss = 100.0, 100.0, "vfl"  # read at construction only
    model.args.obj_gain_scale = 3.0  # read at every call
    _, after = crit(preds, batch)
    assert after["box_loss"] == before["box_loss"] and after["cls_loss"] == before["cls_loss"]
    assert after["obj_loss"].item() == pytest.approx(3.0 * before["obj_loss"].item(), rel=1e-6)


def test_criterion_on_a_model_loaded_from_a_checkpoint(tmp_path):
    """After ultralytics' strip_optimizer, ``model.args`` is a plain dict (once: ``'dict' object has no attribute
    'box'``). Its values, not the defaults, are used."""
    from ultralytics.engine.trainer import strip_optimizer  # patched: keeps the extension keys
    from ultralytics.nn.tasks import load_checkpoint

    torch.manual_seed(0)
    model = AnchorDetectionModel(str(resolve_model_cfg("yolov5n-1a.yaml")), nc=1, verbose=False)
    args = base_args(obj=0.7, box=0.04)
    model.args = IterableSimpleNamespace(**args)
    f = tmp_path / "last.pt"
    torch.save({"model": deepcopy(model).half(), "ema": None, "train_args": args, "epoch": 0}, f)
    strip_optimizer(f)
    loaded, _ = load_checkpoint(str(f))
    assert isinstance(loaded.args, dict)
    loaded.train()
    batch = fixed_batch(imgsz=64)
    with torch.no_grad():
        preds = loaded(batch["img"])
    loss, items = loaded.loss(batch, preds)
    assert loaded.criterion.config.obj == 0.7 and loaded.criterion.config.box == 0.04
    ref = YOLOv5Criterion(SimpleNamespace(args=IterableSimpleNamespace(**loaded.args), model=loaded.model))
    assert torch.equal(loss, ref(preds, batch)[0]) and torch.isfinite(loss).all() and items["obj_loss"] > 0
