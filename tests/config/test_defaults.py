"""Extension settings: hyp file in step with code defaults, merge/strip, CLI parsing."""

import pytest
import yaml
from ultralytics.utils import DEFAULT_CFG, DEFAULT_CFG_KEYS

import yolo_ext  # noqa: F401
from yolo_ext.cli.train import train_overrides, train_parser
from yolo_ext.config.errors import ConfigError
from yolo_ext.config.overrides import parse_set
from yolo_ext.config.paths import DATA, resolve_model_cfg
from yolo_ext.config.defaults import YOLOV5_OVERRIDES, ext_defaults, strip_ext, trainer_base_cfg


def test_hyp_file_matches_code_defaults():
    hyp = yaml.safe_load((DATA / "hyps" / "hyp.scratch-low.yaml").read_text())
    for k, v in {**ext_defaults(), **YOLOV5_OVERRIDES}.items():
        assert k in hyp, f"hyp.scratch-low.yaml lacks {k}"
        assert hyp[k] == v, f"{k}: hyp file {hyp[k]!r} != code default {v!r}"
    unknown = set(hyp) - set(DEFAULT_CFG_KEYS) - set(ext_defaults())
    assert not unknown, f"keys neither ultralytics nor yolo-ext: {unknown}"


def test_extension_keys_do_not_collide_with_ultralytics():
    assert not set(ext_defaults()) & set(DEFAULT_CFG_KEYS)


def test_base_cfg_merge_and_strip():
    base = trainer_base_cfg(DEFAULT_CFG)
    assert base["optimizer"] == "SGD" and base["box"] == 0.05 and base["assigner"] == "yolov5"
    user = trainer_base_cfg({**vars(DEFAULT_CFG), "optimizer": "AdamW", "anchor_t": 3.0})
    assert user["optimizer"] == "AdamW" and user["anchor_t"] == 3.0
    stripped = strip_ext(base)
    assert "assigner" not in stripped and "anchor_t" not in stripped and stripped["optimizer"] == "SGD"


def test_set_parsing_and_errors():
    assert parse_set(["anchor_t=3.5", "assigner=radius+dedup", "autobalance=true", "x=[1, 2]"]) == {
        "anchor_t": 3.5, "assigner": "radius+dedup", "autobalance": True, "x": [1, 2]}
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["anchor_t"])
    with pytest.raises(ConfigError, match=r"--set anchor_t=\[1,: not a valid YAML value"):
        parse_set(["anchor_t=[1,"])
    assert parse_set(["anchor_t="]) == {"anchor_t": None}  # no value: validate() names it


def test_train_overrides_precedence(tmp_path):
    hyp = tmp_path / "h.yaml"
    hyp.write_text("lr0: 0.02\nanchor_t: 5.0\nobj: 0.3\n")
    (tmp_path / "x.yaml").write_text("path: x\ntrain: a\nval: b\nnames: {0: a}\n")
    a = train_parser().parse_args(
        ["--cfg", "yolov5n", "--data", str(tmp_path / "x.yaml"), "--hyp", str(hyp), "--assigner", "radius", "--set", "obj=0.9",
         "--project", "rel/runs"])
    ov = train_overrides(a)
    assert ov["lr0"] == 0.02 and ov["anchor_t"] == 5.0 and ov["obj"] == 0.9 and ov["assigner"] == "radius"
    assert ov["model"] == str(resolve_model_cfg("yolov5n.yaml")) and ov["project"].startswith("/")


def test_model_cfg_never_falls_back_to_ultralytics():
    with pytest.raises(FileNotFoundError, match="bundled"):
        resolve_model_cfg("yolov8n.yaml")
