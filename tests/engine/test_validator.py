"""AnchorValidator: the stock DetectionValidator fed args without our extension keys, results dir on its metrics."""

from types import SimpleNamespace

import pytest
from ultralytics.cfg import get_cfg
from ultralytics.models.yolo.detect import DetectionValidator
from ultralytics.utils import DEFAULT_CFG

import yolo_ext  # noqa: F401
from yolo_ext.config.defaults import ext_defaults, strip_ext, trainer_base_cfg
from yolo_ext.engine import AnchorValidator


def run_args(**kw):
    """Trainer-style args: ultralytics' cfg namespace with every extension key (as the trainer hands them over)."""
    base = trainer_base_cfg(DEFAULT_CFG)
    ext = {k: base.pop(k) for k in list(base) if k in ext_defaults()}
    ns = get_cfg(base, {"conf": 0.2, "imgsz": 96, **kw})
    for k, v in {**ext, "assigner": "radius", "anchor_t": 3.0}.items():
        setattr(ns, k, v)
    return ns


def test_extension_keys_are_stripped_and_stock_keys_kept(tmp_path):
    args = run_args()
    v = AnchorValidator(save_dir=tmp_path / "val", args=args)
    assert not set(ext_defaults()) & set(vars(v.args)), "extension keys reached the stock validator"
    assert (v.args.conf, v.args.imgsz) == (0.2, 96)
    assert args.assigner == "radius" and args.anchor_t == 3.0  # the caller's args are not modified


def test_stock_validator_rejects_our_keys_and_accepts_the_stripped_args(tmp_path):
    args = run_args()
    with pytest.raises(SyntaxError, match="anchor_t"):  # why AnchorValidator strips them
        DetectionValidator(save_dir=tmp_path / "a", args=vars(args))
    stock = DetectionValidator(save_dir=tmp_path / "b", args=strip_ext(args))
    ours = AnchorValidator(save_dir=tmp_path / "c", args=args)
    assert vars(ours.args) == vars(stock.args)


@pytest.mark.parametrize("kind", ["namespace", "dict", "none"])
def test_metrics_know_the_results_dir(tmp_path, kind):
    args = {"namespace": run_args(), "dict": dict(vars(run_args())), "none": None}[kind]  # dict: model.args of a .pt
    v = AnchorValidator(save_dir=tmp_path / "v", args=args)
    assert v.metrics.save_dir == v.save_dir == tmp_path / "v"


def test_plain_namespace_args(tmp_path):
    ns = SimpleNamespace(**{**vars(run_args()), "obj_loss": "vfl"})
    assert "obj_loss" not in vars(AnchorValidator(save_dir=tmp_path, args=ns).args)
