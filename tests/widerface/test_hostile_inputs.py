"""Hostile inputs to the WIDER tools: output folders that must survive (foreign data, the source itself), bad synth
arguments, non-finite or absurd predictions, a bad --iou, a prediction folder one level too high, a 0-byte .mat,
corrupt images. Each case fails with one line naming the file (and line) instead of losing data or a silent number."""

import re

import numpy as np
import pytest
from PIL import Image

from yolo_ext.cli.widerface import main
from yolo_ext.widerface import GroundTruth, PredictionFormatError, evaluate, load_ground_truth
from yolo_ext.widerface.convert import AnnotationError, convert
from yolo_ext.widerface.groundtruth import SETTINGS, save_ground_truth

from widerface.test_convert import make_root

MARKER = ".yolo_ext-output.json"  # the documented marker of our outputs (yolo_ext.utils.owned.MARKER)


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


# ------------------------------------------------------------------------------------------ data loss (convert/synth)
def test_convert_refuses_a_foreign_folder(tmp_path, capsys):
    root = make_root(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    for extra in ([], ["--force"]):
        rc, err = cli(capsys, "convert", "--root", root, "--out", out, "--splits", "val", *extra)
        assert rc == 2 and "is not empty and is not an output of" in err
    assert (out / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("rel, word", [(".", "is"), ("..", "is a parent of"), ("yolo", "is inside")])
def test_convert_refuses_out_equal_above_or_inside_root(tmp_path, capsys, rel, word):
    root = make_root(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    rc, err = cli(capsys, "convert", "--root", root, "--out", root / rel, "--splits", "val", "--force")
    assert rc == 2 and f" {word} --root " in err, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # the source data is intact


def test_convert_force_replaces_only_its_own_output(tmp_path, capsys):
    root = make_root(tmp_path)
    out = tmp_path / "out"
    assert cli(capsys, "convert", "--root", root, "--out", out, "--splits", "val")[0] == 0
    assert (out / MARKER).is_file() and (out / "out.yaml").is_file()
    rc, err = cli(capsys, "convert", "--root", root, "--out", out, "--splits", "val")
    assert rc == 2 and "pass --force to replace it" in err
    assert cli(capsys, "convert", "--root", root, "--out", out, "--splits", "val", "--force")[0] == 0


def test_synth_refuses_foreign_folders_and_replaces_its_own_with_force(tmp_path, capsys):
    out = tmp_path / "s"
    args = ("synth", "--out", out, "--train", 1, "--val", 1, "--size", 64)
    out.mkdir()
    (out / "photo.jpg").write_bytes(b"holiday")
    rc, err = cli(capsys, *args, "--force")
    assert rc == 2 and "is not an output of" in err and (out / "photo.jpg").read_bytes() == b"holiday"
    (out / "photo.jpg").unlink()
    assert cli(capsys, *args)[0] == 0 and (out / MARKER).is_file()
    rc, err = cli(capsys, *args)
    assert rc == 2 and "pass --force" in err
    assert cli(capsys, *args, "--force")[0] == 0
    rc, err = cli(capsys, "convert", "--root", out, "--out", out, "--force")  # its own source, whatever the marker
    assert rc == 2 and "is --root" in err


@pytest.mark.parametrize("argv, needle", [
    (["--train", "0"], "--train 0: must be an integer >= 1"),
    (["--train", "-5"], "--train -5: must be an integer >= 1"),
    (["--val", "0"], "--val 0: must be an integer >= 1"),
    (["--size", "0"], "--size 0: must be an integer >= 64"),
    (["--size", "10"], "--size 10: must be an integer >= 64"),
    (["--seed", "-1"], "--seed -1: must be an integer >= 0"),
])
def test_synth_argument_checks(tmp_path, capsys, argv, needle):
    base = {"--train": "2", "--val": "2", "--size": "64", "--seed": "0"}
    base.update(dict(zip(argv[::2], argv[1::2])))
    rc, err = cli(capsys, "synth", "--out", tmp_path / "s", *[x for kv in base.items() for x in kv])
    assert rc == 2 and needle in err and not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------------------- corrupt images
@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_convert_names_an_image_that_cannot_be_decoded(tmp_path, capsys, damage):
    root = make_root(tmp_path)
    img = root / "WIDER_val" / "images" / "1--Handshaking" / "1_b.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 200, 3), dtype=np.uint8)).save(img, quality=95)
    data = img.read_bytes()
    img.write_bytes({"garbage": b"not an image at all", "empty": b"", "truncated": data[: len(data) // 2]}[damage])
    with pytest.raises(AnnotationError, match=r"wider_face_val_bbx_gt\.txt:\d+: image .*1_b\.jpg cannot be decoded"):
        convert(root, tmp_path / "out", splits=("val",))
    rc, err = cli(capsys, "convert", "--root", root, "--out", tmp_path / "out", "--splits", "val")
    assert rc == 2 and "1_b.jpg cannot be decoded" in err and not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------------------------- evaluation
def tiny_gt():
    faces = np.array([[0, 0, 20, 20], [100, 100, 20, 20]], float)
    gt = GroundTruth(["0--Parade"], [("0--Parade", "img_0")], np.array([0, 2]), faces)
    for s in SETTINGS:
        gt.evaluated[s] = np.array([True, True])
        gt.counts[s] = np.array([2])
    return gt


def write_pred(d, rows):
    (d / "0--Parade").mkdir(parents=True, exist_ok=True)
    (d / "0--Parade" / "img_0.txt").write_text("img_0\n%d\n" % len(rows) + "".join(r + "\n" for r in rows))


@pytest.mark.parametrize("bad, what", [
    ("0 0 20 20 nan", "score is nan"), ("0 0 20 20 inf", "score is inf"), ("0 0 20 20 -inf", "score is -inf"),
    ("0 0 20 20 1e300", "score is 1e+300"), ("nan 0 20 20 0.5", "x is nan"), ("0 0 20 1e9 0.5", "h is 1e+09"),
])
def test_non_finite_or_absurd_predictions_name_file_and_line(tmp_path, capsys, bad, what):
    gt = tiny_gt()
    write_pred(tmp_path / "p", ["100 100 20 20 0.9", bad])
    with pytest.raises(PredictionFormatError, match=r"img_0\.txt:4: " + re.escape(what)):
        evaluate(tmp_path / "p", gt)
    row = np.array([[100, 100, 20, 20, 0.9], [float(v) for v in bad.split()]])
    with pytest.raises(ValueError, match="0--Parade/img_0, row 1: " + re.escape(what)):
        evaluate({("0--Parade", "img_0"): row}, gt)
    save_ground_truth(gt, tmp_path / "gt")
    rc, err = cli(capsys, "evaluate", "--pred", tmp_path / "p", "--gt", tmp_path / "gt")
    assert rc == 2 and "img_0.txt:4:" in err


def test_finite_scores_still_evaluate(tmp_path):
    write_pred(tmp_path / "p", ["100 100 20 20 0.9", "0 0 20 20 -3.5"])
    assert evaluate(tmp_path / "p", tiny_gt())["hard"] == pytest.approx(1.0)


@pytest.mark.parametrize("iou", [0, 1, 1.5, -0.1, float("nan")])
def test_iou_outside_the_open_unit_interval_is_an_error(tmp_path, capsys, iou):
    with pytest.raises(ValueError, match="IoU threshold must be a number in \\(0, 1\\)"):
        evaluate({}, tiny_gt(), iou=iou)
    save_ground_truth(tiny_gt(), tmp_path / "gt")
    write_pred(tmp_path / "p", ["0 0 20 20 0.9"])
    rc, err = cli(capsys, "evaluate", "--pred", tmp_path / "p", "--gt", tmp_path / "gt", "--iou", iou)
    assert rc == 2 and "--iou" in err


def test_prediction_folder_one_level_too_high_is_an_error(tmp_path):
    write_pred(tmp_path / "run" / "wider_pred", ["0 0 20 20 0.9"])
    with pytest.raises(FileNotFoundError, match=r"none of the 1 ground-truth images has a prediction file .*pass "
                                                r"--pred .*run/wider_pred"):
        evaluate(tmp_path / "run", tiny_gt())


def test_empty_mat_file_names_the_file(tmp_path):
    save_ground_truth(tiny_gt(), tmp_path)
    (tmp_path / "wider_hard_val.mat").write_bytes(b"")
    with pytest.raises(ValueError, match=r"wider_hard_val\.mat: not a readable MATLAB \.mat file"):
        load_ground_truth(tmp_path)


def test_cli_states_the_synth_minimum_size():
    from yolo_ext.cli import widerface as cli_mod
    from yolo_ext.widerface.synth import MIN_SIZE

    assert cli_mod.SYNTH_MIN_SIZE == MIN_SIZE  # the light CLI keeps its own copy (no synth import for evaluate)
