"""WIDER official layout -> YOLO dataset: filtering rules, YAML, and errors that name file:line."""
import numpy as np
import pytest
import yaml
from PIL import Image

from yolo_ext.widerface.convert import AnnotationError, convert, parse_annotations

W, H = 200, 100
# x1 y1 w h blur expression illumination invalid occlusion pose
ROWS = {
    "0--Parade/0_a.jpg": ["10 20 40 50 0 0 0 0 0 0",   # kept as is
                          "190 80 20 40 0 0 0 0 0 0",  # clipped to 190..200 x 80..100
                          "5 5 0 10 0 0 0 0 0 0",      # w <= 0: dropped
                          "50 10 30 30 2 0 0 1 0 0",   # invalid: dropped unless keep_invalid
                          "300 10 10 10 0 0 0 0 0 0",  # outside the image: dropped
                          "100 10 3 4 0 0 0 0 0 0"],   # 3 px wide: dropped by --min-size 5
    "1--Handshaking/1_b.jpg": [],                      # zero faces: count 0 + dummy row
}


def make_root(tmp_path, rows=ROWS, text=None):
    root = tmp_path / "wider"
    lines = []
    for rel, faces in rows.items():
        img = root / "WIDER_val" / "images" / rel
        img.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (W, H), (90, 120, 150)).save(img)
        lines += [rel, str(len(faces))] + (faces or ["0 0 0 0 0 0 0 0 0 0"])
    ann = root / "wider_face_split" / "wider_face_val_bbx_gt.txt"
    ann.parent.mkdir(parents=True, exist_ok=True)
    ann.write_text(text if text is not None else "\n".join(lines) + "\n")
    return root


def read_labels(out, rel):
    p = out / "labels" / "val" / rel.replace(".jpg", ".txt")
    return np.loadtxt(p, ndmin=2) if p.read_text().strip() else np.zeros((0, 5))


def test_filters_clips_and_writes_yaml(tmp_path, capsys):
    root = make_root(tmp_path)
    yml = convert(root, tmp_path / "out", splits=("val",))
    cfg = yaml.safe_load(yml.read_text())
    assert cfg["names"] == {0: "face"} and cfg["val"] == "images/val" and "train" not in cfg
    assert cfg["widerface"]["gt_dir"] == str((root / "eval_tools" / "ground_truth").resolve())
    lab = read_labels(tmp_path / "out", "0--Parade/0_a.jpg")
    expected = np.array([[0, 30 / W, 45 / H, 40 / W, 50 / H], [0, 195 / W, 90 / H, 10 / W, 20 / H],
                         [0, 101.5 / W, 12 / H, 3 / W, 4 / H]])
    np.testing.assert_allclose(lab, expected, atol=1e-6)
    assert read_labels(tmp_path / "out", "1--Handshaking/1_b.jpg").shape == (0, 5)
    assert (tmp_path / "out" / "images" / "val" / "0--Parade" / "0_a.jpg").is_symlink()
    err = capsys.readouterr().err
    assert "1 w/h<=0" in err and "1 invalid" in err and "1 outside the image" in err and "clipped: 1" in err


def test_keep_invalid_min_size_and_copy(tmp_path):
    root = make_root(tmp_path)
    convert(root, tmp_path / "out", splits=("val",), keep_invalid=True, min_size=5, copy=True)
    lab = read_labels(tmp_path / "out", "0--Parade/0_a.jpg")
    assert len(lab) == 3  # kept, clipped, invalid; the 3-px face is gone
    np.testing.assert_allclose(lab[2], [0, 65 / W, 25 / H, 30 / W, 30 / H], atol=1e-6)
    assert not (tmp_path / "out" / "images" / "val" / "0--Parade" / "0_a.jpg").is_symlink()


@pytest.mark.parametrize("text, line, what", [
    ("0--Parade/0_a.jpg\n1\n10 20 40 50 0 0 0 0 0\n", 3, "expected 10 integer fields"),
    ("0--Parade/0_a.jpg\n1\n10 20 40 5.5 0 0 0 0 0 0\n", 3, "non-integer"),
    ("0--Parade/0_a.jpg\n3\n10 20 40 50 0 0 0 0 0 0\n", 3, "file ends inside"),
    ("0--Parade/0_a.jpg\nx\n", 2, "non-integer"),
    ("0--Parade/0_a.jpg\n1\n10 20 40 50 0 0 0 0 0 0\n1--Handshaking/missing.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n", 4, "image not found"),
])
def test_malformed_annotations_name_file_and_line(tmp_path, text, line, what):
    root = make_root(tmp_path, text=text)
    with pytest.raises(AnnotationError, match=rf"wider_face_val_bbx_gt\.txt:{line}: .*{what}"):
        convert(root, tmp_path / "out", splits=("val",))
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_parse_zero_face_image_consumes_dummy_row(tmp_path):
    root = make_root(tmp_path)
    sp = parse_annotations(root / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    assert sp.paths == list(ROWS) and sp.rows.shape == (6, 10) and sp.lines == [1, 9]
    assert np.all(sp.image_of_row == 0)
