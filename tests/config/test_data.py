"""Dataset resolution: 'synth', YAMLs with a synth section, bare names in data/, errors."""

import pytest
import yaml

import yolo_ext  # noqa: F401
from yolo_ext.config.data import resolve_data, wider_section
from yolo_ext.config.errors import ConfigError
from yolo_ext.config.paths import DATA


def test_synth_section_generates_a_cached_wider_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_EXT_DATASETS", str(tmp_path / "cache"))
    cfg = tmp_path / "s.yaml"
    cfg.write_text("synth: {train: 3, val: 2, seed: 5, size: 96}\n")
    y = resolve_data(str(cfg))
    d = yaml.safe_load(open(y))
    assert d["names"] == {0: "face"} and "widerface" in d and str(tmp_path / "cache") in y
    assert "-3-2-s5-96" in y
    mtime = (tmp_path / "cache").stat().st_mtime_ns
    assert resolve_data(str(cfg)) == y  # cached: second call generates nothing
    assert (tmp_path / "cache").stat().st_mtime_ns == mtime


def test_synth_section_unknown_key(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("synth: {train: 3, imgs: 2}\n")
    with pytest.raises(ConfigError, match="imgs"):  # library code raises; only CLI mains exit
        resolve_data(str(cfg))
    cfg.write_text("synth: {train: 0}\n")
    with pytest.raises(ConfigError, match="synth.train: 0 must be an integer >= 1"):
        resolve_data(str(cfg))


def test_bundled_yaml_and_passthrough(tmp_path):
    d = yaml.safe_load((DATA / "widerface-synth.yaml").read_text())
    assert d["synth"] == {"train": 300, "val": 100, "seed": 0, "size": 416}  # equals --data synth
    assert resolve_data("coco8.yaml") == "coco8.yaml"  # not ours: left to ultralytics
    plain = tmp_path / "p.yaml"
    plain.write_text("path: x\ntrain: a\nval: b\nnames: {0: a}\n")
    assert resolve_data(str(plain)) == str(plain.resolve())


def test_wider_section_is_the_one_detector(tmp_path):
    y = tmp_path / "d.yaml"
    y.write_text("train: a\nval: b\n")
    assert wider_section(y) is None and wider_section({"train": "a"}) is None
    y.write_text(f"widerface: {{gt_dir: {tmp_path / 'gt'}, val_images: {tmp_path}}}\n")
    assert wider_section(y, check=False)["val_images"] == str(tmp_path)
    with pytest.raises(FileNotFoundError, match="widerface.gt_dir"):
        wider_section(y)
    (tmp_path / "gt").mkdir()
    assert wider_section(y)["gt_dir"] == str(tmp_path / "gt")
