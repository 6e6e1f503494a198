"""``yolo_ext.config.validate``: one check of every extension key (types, ranges, combinations, unused keys), run by
the trainer constructor, train.py and ablation plans before anything is built."""

import subprocess
import sys

import pytest

import yolo_ext  # noqa: F401
from yolo_ext.config.defaults import ext_defaults, trainer_base_cfg
from yolo_ext.config.errors import ConfigError
from yolo_ext.config.validate import validate, validate_trainer_args
from yolo_ext.engine.trainer import AnchorTrainer

from helpers import ROOT


@pytest.mark.parametrize("cfg, words", [
    ({"adapt_obj_gain": "maybe"}, ["adapt_obj_gain='maybe'", "true or false"]),
    ({"ohem": "nope"}, ["ohem='nope'"]),
    ({"ohem": 1}, ["ohem=1", "true or false"]),  # a number is not a boolean
    ({"anchor_t": "abc"}, ["anchor_t='abc'", "a number"]),
    ({"obj": "abc"}, ["obj='abc'", "a number"]),
    ({"anchor_t": None}, ["anchor_t: no value given"]),
    ({"anchor_t": True}, ["anchor_t=True"]),
    ({"anchor_t": float("nan")}, ["anchor_t=nan"]),
    ({"ohem_min_neg": 3.5}, ["ohem_min_neg=3.5", "integer"]),
    ({"assigner": 5}, ["assigner=5", "string"]),
    ({"obj_loss": "focall"}, ["obj_loss='focall'", "bce", "vfl"]),
    ({"obj_norm": "foo"}, ["obj_norm='foo'", "auto", "target_sum"]),
    ({"cls_norm": "foo"}, ["cls_norm='foo'"]),
    ({"assigner": "ignore", "ignore_iou": 2}, ["ignore_iou", "2"]),
    ({"assigner": "radius", "radius_max": -2}, ["radius_max", "-2"]),
    ({"dedup_mode": "foo"}, ["dedup_mode", "foo"]),  # a bad value fails even where this spec does not read it
    ({"anchor_t": 1.0}, ["anchor_t", "> 1"]),
    ({"focal_gamma": -1}, ["focal_gamma=-1", "gamma"]),
    ({"ohem_ratio": 0}, ["ohem_ratio=0.0", "> 0"]),
    ({"balance_target": 0}, ["balance_target=0.0", "> 0"]),
    ({"gr": 1.5}, ["gr=1.5", "[0, 1]"]),
    ({"autobalance": True, "obj_loss": "focal"}, ["autobalance", "obj_norm=mean"]),
    # training-time tricks: probabilities, ranges, counts, the auxiliary head
    ({"cutout": 1.5}, ["cutout=1.5", "[0, 1]"]),
    ({"cutout": -0.1}, ["cutout=-0.1", "[0, 1]"]),
    ({"square_crop": 2}, ["square_crop=2.0", "[0, 1]"]),
    ({"cutout_min_visible": 1.2}, ["cutout_min_visible=1.2", "[0, 1]"]),
    ({"cutout_holes": 0}, ["cutout_holes=0", ">= 1"]),
    ({"cutout_holes": 2.5}, ["cutout_holes=2.5", "integer"]),
    ({"cutout_scale": [0.5, 0.1]}, ["cutout_scale=[0.5, 0.1]", "empty range"]),
    ({"cutout_scale": [0.1, 1.5]}, ["cutout_scale", "(0, 1]"]),
    ({"cutout_scale": [0.0, 0.1]}, ["cutout_scale", "(0, 1]"]),
    ({"cutout_scale": 0.3}, ["cutout_scale=0.3", "[low, high]"]),
    ({"square_crop_scale": [2.0, 0.3]}, ["square_crop_scale=[2.0, 0.3]", "empty range"]),
    ({"square_crop_scale": []}, ["square_crop_scale=[]", "[low, high]"]),
    ({"square_crop_scale": [0.3, 2.0, 3.0]}, ["square_crop_scale", "[low, high]"]),
    ({"square_crop_scale": [-1, 2]}, ["square_crop_scale", "(0, inf)"]),
    ({"square_crop_scale": None}, ["square_crop_scale: no value given"]),
    ({"cutout_fill": 300}, ["cutout_fill=300", "random"]),
    ({"cutout_fill": "blue"}, ["cutout_fill='blue'", "random"]),
    ({"aux_weight": -0.5}, ["aux_weight=-0.5", ">= 0"]),
    ({"aux_head": "maybe"}, ["aux_head='maybe'", "true or false"]),
    ({"aux_assigner": "radiuss"}, ["aux_assigner='radiuss'", "radius"]),
    ({"square_crop": 0.5, "rect": True}, ["square_crop=0.5", "rect=false"]),
    ({"assigner": "yolov5+radius"}, ["yolov5+radius", "base"]),
    ({"assigner": "tal+recover"}, ["assigner='tal+recover'", "cannot be combined with 'recover'"]),
    ({"assigner_warmup": "atsss", "assigner_warmup_epochs": 2}, ["assigner_warmup='atsss'", "unknown assigner"]),
    ({"assigner_warmup": "maxiou+recover", "assigner_warmup_epochs": 2}, ["assigner_warmup=", "cannot be combined"]),
    ({"assigner_warmup_epochs": -1}, ["assigner_warmup_epochs=-1", ">= 0"]),
    ({"assigner_warmup_epochs": 1.5}, ["assigner_warmup_epochs=1.5", "integer"]),
    ({"assigner": "maxiou", "neg_iou": 0.5}, ["neg_iou=0.5", "pos_iou"]),
    ({"atss_topk": 0}, ["atss_topk=0", ">= 1"]),
    ({"tal_beta": -1}, ["tal_beta=-1", ">= 0"]),
])
def test_bad_values_are_named(cfg, words):
    with pytest.raises(ConfigError) as e:
        validate(cfg, warn=lambda m: None)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_values_are_converted_to_their_canonical_types():
    out = validate({"anchor_t": "3.5", "adapt_obj_gain": "false", "ohem": "TRUE", "ohem_min_neg": 8.0, "obj": 2,
                    "lr0": "kept as is"}, warn=lambda m: None)
    assert out == {"anchor_t": 3.5, "adapt_obj_gain": False, "ohem": True, "ohem_min_neg": 8, "obj": 2.0,
                   "lr0": "kept as is"}
    assert type(out["ohem_min_neg"]) is int and type(out["obj"]) is float


def test_trick_values_are_converted():
    out = validate({"cutout_scale": "[0.05, 0.1]", "square_crop_scale": (1, 2), "cutout_fill": "114", "cutout": 1,
                    "aux_weight": "0.5", "aux_assigner": " radius "}, warn=lambda m: None)
    assert out == {"cutout_scale": [0.05, 0.1], "square_crop_scale": [1.0, 2.0], "cutout_fill": 114, "cutout": 1.0,
                   "aux_weight": 0.5, "aux_assigner": "radius"}
    assert validate({"cutout_fill": "random"})["cutout_fill"] == "random"


def test_every_default_is_valid_and_unchanged():
    d = ext_defaults()
    assert validate(dict(d), warn=pytest.fail) == d


@pytest.mark.parametrize("cfg, needle", [
    ({"ignore_iou": 0.6}, "ignore_iou=0.6 has no effect: assigner 'yolov5'"),
    ({"assigner": "radius", "dedup_mode": "iou"}, "dedup_mode='iou' has no effect"),
    ({"focal_gamma": 2.0}, "focal_gamma=2.0 has no effect: neither obj_loss nor cls_loss is 'focal'"),
    ({"ohem_ratio": 2.0}, "ohem_ratio=2.0 has no effect without ohem=true"),
    ({"balance_target": 0.3}, "balance_target=0.3 has no effect without adapt_obj_gain=true"),
    ({"assigner": "tal", "assigner_warmup": "atss"}, "assigner_warmup='atss' has no effect without assigner_warmup_epochs > 0"),
    ({"assigner": "tal", "assigner_warmup_epochs": 4}, "assigner_warmup_epochs=4 has no effect without an assigner_warmup"),
    ({"assigner": "tal", "atss_topk": 5}, "atss_topk=5 has no effect: assigner 'tal'"),
    ({"cutout_holes": 5}, "cutout_holes=5 has no effect without cutout > 0"),
    ({"square_crop_scale": [0.5, 1.0]}, "square_crop_scale=[0.5, 1.0] has no effect without square_crop > 0"),
])
def test_parameters_no_component_reads_warn(cfg, needle):
    got = []
    validate(cfg, warn=got.append)
    assert any(needle in m for m in got), got


def test_parameters_in_use_do_not_warn():
    got = []
    validate({"assigner": "ignore", "ignore_iou": 0.6, "anchor_t": 3.0, "obj_loss": "focal", "focal_gamma": 2.0,
              "ohem": True, "ohem_ratio": 2.0, "radius_scale": 0.5}, warn=got.append)  # radius_scale: its default
    assert got == []


def test_warmup_parameters_count_as_read():
    got = []
    validate({"assigner": "tal", "assigner_warmup": "atss", "assigner_warmup_epochs": 4, "atss_topk": 5, "tal_topk": 8},
             warn=got.append)
    assert got == []


def test_label_smoothing_is_an_alias():
    assert "cls_label_smoothing" in ext_defaults()
    out = validate({"label_smoothing": 0.1}, warn=lambda m: None)
    assert out == {"cls_label_smoothing": 0.1}
    with pytest.raises(ConfigError, match="alias"):
        validate({"label_smoothing": 0.1, "cls_label_smoothing": 0.2})
    with pytest.raises(ConfigError, match=r"cls_label_smoothing=1.0: must be in \[0, 1\)"):
        validate({"label_smoothing": 1.0})


def test_trainer_args_are_validated_and_converted_together():
    base, ov = validate_trainer_args(trainer_base_cfg({}), {"anchor_t": "3", "label_smoothing": 0.2, "lr0": 0.02},
                                     warn=lambda m: None)
    assert ov == {"anchor_t": 3.0, "cls_label_smoothing": 0.2, "lr0": 0.02}
    assert base["anchor_t"] == 4.0 and "label_smoothing" not in base
    with pytest.raises(ConfigError, match="autobalance"):  # the combination spans base and overrides
        validate_trainer_args({**trainer_base_cfg({}), "autobalance": True}, {"obj_loss": "vfl"})


def test_trainer_fails_before_any_dataset_is_read(tmp_path):
    missing = tmp_path / "never-read.yaml"  # would raise a dataset error if the trainer got that far
    for bad in ({"obj": "abc"}, {"ohem": "maybe"}, {"obj_norm": "foo"}, {"cutout": 1.5}, {"aux_weight": -1},
                {"square_crop_scale": [2, 1]}):
        with pytest.raises(ConfigError):
            AnchorTrainer(overrides={"model": "yolov5n-1a.yaml", "data": str(missing), **bad})


def test_label_smoothing_reaches_the_trainer_args(tiny_data, tmp_path):
    t = AnchorTrainer(overrides={"model": str(ROOT / "models" / "yolov5n-1a.yaml"), "data": str(tiny_data),
                                 "label_smoothing": 0.1, "project": str(tmp_path), "name": "ls", "device": "cpu"})
    assert t.args.cls_label_smoothing == 0.1  # ultralytics drops a key named label_smoothing: the alias survives


@pytest.mark.parametrize("argv, needle", [
    (["--set", "obj=abc"], "obj='abc'"),
    (["--set", "anchor_t=3", "--set", "ignore_iou=2", "--assigner", "ignore"], "ignore_iou"),  # the 2nd --set counts
    (["--loss", "focall"], "obj_loss='focall'"),
    (["--set", "anchor_t="], "anchor_t: no value given"),
    (["--set", "anchor_t=[1,"], "not a valid YAML value"),
    (["--set", "aux_weight=-1"], "aux_weight=-1.0: must be >= 0"),
    (["--set", "square_crop=0.5", "square_crop_scale=[2,0.3]"], "square_crop_scale=[2, 0.3]: empty range"),
])
def test_train_cli_rejects_bad_settings_before_the_data(tmp_path, argv, needle):
    r = subprocess.run([sys.executable, "train.py", "--data", str(tmp_path / "none.yaml"), *argv],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and needle in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr


def test_every_set_counts():
    from yolo_ext.cli.train import train_parser

    a = train_parser().parse_args(["--set", "a=1", "--set", "b=2", "c=3"])
    assert a.set == ["a=1", "b=2", "c=3"]
