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


def test_bundled_yaml_and_local_paths(tmp_path):
    d = yaml.safe_load((DATA / "widerface-synth.yaml").read_text())
    assert d["synth"] == {"train": 300, "val": 100, "seed": 0, "size": 416}  # equals --data synth
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


@pytest.mark.parametrize("name", ["coco8.yaml", "nope.yaml", "synthh"])
def test_unknown_names_are_refused_never_passed_to_the_downloader(name):
    with pytest.raises(FileNotFoundError, match=rf"dataset '{name}' not found .*nothing is downloaded: use --data synth"):
        resolve_data(name)


def test_only_bare_names_fall_back_to_the_bundled_data_folder(tmp_path, monkeypatch):
    """The README's `--data datasets/widerface/widerface.yaml` before the conversion: an error, not data/widerface.yaml."""
    monkeypatch.chdir(tmp_path)
    assert (DATA / "widerface.yaml").is_file()
    with pytest.raises(FileNotFoundError, match=r"datasets/widerface/widerface\.yaml' not found"):
        resolve_data("datasets/widerface/widerface.yaml")
    assert resolve_data("widerface.yaml") == str(DATA / "widerface.yaml")  # a bare name: the bundled template


def test_yaml_that_would_download_is_refused(tmp_path):
    y = tmp_path / "coco8.yaml"
    y.write_text(f"path: {tmp_path / 'coco8'}\ntrain: images/train\nval: images/val\nnames: {{0: person}}\n"
                 "download: https://example.com/coco8.zip\n")
    with pytest.raises(FileNotFoundError, match=r"coco8.yaml: val images .*images/val' not found and the YAML would "
                                                r"download them"):
        resolve_data(str(y))
    (tmp_path / "coco8" / "images" / "val").mkdir(parents=True)
    (tmp_path / "coco8" / "images" / "train").mkdir(parents=True)
    assert resolve_data(str(y)) == str(y.resolve())


def test_synth_section_size_below_the_minimum(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("synth: {train: 3, val: 2, size: 10}\n")
    with pytest.raises(ConfigError, match="synth.size: 10 must be an integer >= 64"):
        resolve_data(str(cfg))
