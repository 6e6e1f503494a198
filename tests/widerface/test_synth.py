"""Synthetic WIDER set: byte determinism, .mat structure identical to the official files,
synth -> convert round trip, settings nesting, the cached default dataset."""
import hashlib

import numpy as np
import pytest
import scipy.io as sio
import yaml

from yolo_ext.widerface import evaluate, load_ground_truth
from yolo_ext.widerface import synth as synth_mod
from yolo_ext.widerface.convert import convert, parse_annotations
from yolo_ext.widerface.reference import find_shared_widerface
from yolo_ext.widerface.synth import settings_masks, synth

MATS = ["wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat"]
SHARED = find_shared_widerface()


def tree_hash(root):
    h = hashlib.sha256()
    for p in sorted(x for x in root.rglob("*") if x.is_file()):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("syn") / "a", n_train=6, n_val=24, seed=3, size=192)


def test_byte_deterministic(tiny, tmp_path):
    again = synth(tmp_path / "b", n_train=6, n_val=24, seed=3, size=192)
    assert tree_hash(tiny) == tree_hash(again)
    other = synth(tmp_path / "c", n_train=6, n_val=24, seed=4, size=192)
    assert tree_hash(other) != tree_hash(tiny)


def signature(m, mat_dtype):
    """Structure of a loaded WIDER .mat: per key the outer/inner cell layout and the leaf types."""
    sig = {}
    for k, v in m.items():
        if k.startswith("__"):
            continue
        leaves = set()
        assert v.dtype == object and v.ndim == 2 and v.shape[1] == 1, k
        for ev in v[:, 0]:
            if ev.dtype != object:  # event_list: a char row per event
                leaves.add(("char", ev.dtype.kind, ev.shape[:0]))
                continue
            assert ev.ndim == 2 and ev.shape[1] == 1, k
            for leaf in ev[:, 0]:
                cols = leaf.shape[1] if leaf.ndim == 2 and leaf.size else None
                leaves.add((leaf.dtype.kind if leaf.dtype.kind == "U" else leaf.dtype.str, leaf.ndim, cols))
        sig[k] = leaves
    return sig


@pytest.mark.parametrize("mat_dtype", [False, True])
def test_mat_structure_matches_official(tiny, mat_dtype):
    gt_dir = tiny / "eval_tools" / "ground_truth"
    for name in MATS:
        ours = signature(sio.loadmat(gt_dir / name, mat_dtype=mat_dtype), mat_dtype)
        whos = sio.whosmat(str(gt_dir / name))
        assert sorted(ours) == sorted(w[0] for w in whos) and all(w[2] == "cell" for w in whos)
        assert ours["face_bbx_list"] == {("<i4", 2, 4)}
        assert ours["blur_label_list"] == {("|u1", 2, 1)}
        assert ours["file_list"] == {("U", 1, None)}
        if "gt_list" in ours:
            assert ours["gt_list"] <= ({("<f8", 2, 1), ("<f8", 2, None)} if mat_dtype else {("|u1", 2, 1), ("|u1", 2, None), ("<u2", 2, 1)})
        if SHARED is not None:
            real = signature(sio.loadmat(SHARED / "ground_truth" / name, mat_dtype=mat_dtype), mat_dtype)
            assert list(sorted(ours)) == list(sorted(real))
            for k in ours:
                assert ours[k] <= real[k], (name, k, ours[k], real[k])
        with open(gt_dir / name, "rb") as fh:
            assert fh.read(116).startswith(b"MATLAB 5.0 MAT-file")


def test_gt_matches_annotations_and_settings_nest(tiny):
    gt = load_ground_truth(tiny / "eval_tools" / "ground_truth")
    ann = parse_annotations(tiny / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    assert [f"{e}/{n}.jpg" for e, n in gt.images] == ann.paths
    n_ann = np.bincount(ann.image_of_row, minlength=len(ann.paths))
    assert np.array_equal(np.maximum(n_ann, 1), gt.num_faces_per_image)  # dummy row when face-less
    real = np.repeat(n_ann > 0, gt.num_faces_per_image)
    np.testing.assert_array_equal(gt.boxes[real], ann.rows[:, :4])
    e, m, h = (gt.evaluated[s] for s in ("easy", "medium", "hard"))
    assert np.all(e <= m) and np.all(m <= h) and e.sum() > 0 and m.sum() > e.sum() and h.sum() > m.sum()
    masks = settings_masks(ann.rows)
    assert all(np.array_equal(gt.evaluated[s][real], masks[s]) for s in masks)
    assert not np.any(h & (gt.labels["invalid"] == 1))
    assert np.all(gt.boxes[h, 3] > synth_mod.HARD_MIN_H)


def test_round_trip_every_valid_face_one_label(tiny, tmp_path):
    yml = convert(tiny, tmp_path / "yolo")
    cfg = yaml.safe_load(yml.read_text())
    assert cfg["widerface"]["gt_dir"] == str(tiny / "eval_tools" / "ground_truth")
    for split in ("train", "val"):
        ann = parse_annotations(tiny / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt")
        valid = (ann.rows[:, 7] == 0) & (ann.rows[:, 2] > 0) & (ann.rows[:, 3] > 0)
        for k, rel in enumerate(ann.paths):
            lab = (tmp_path / "yolo" / "labels" / split / rel).with_suffix(".txt").read_text().split("\n")[:-1]
            rows = ann.rows[(ann.image_of_row == k) & valid]
            assert len(lab) == len(rows), rel
            if len(rows):
                from PIL import Image
                W, H = Image.open(tiny / f"WIDER_{split}" / "images" / rel).size
                got = np.array([[float(v) for v in line.split()[1:]] for line in lab])
                want = np.c_[(rows[:, 0] + rows[:, 2] / 2) / W, (rows[:, 1] + rows[:, 3] / 2) / H, rows[:, 2] / W, rows[:, 3] / H]
                np.testing.assert_allclose(got, want, atol=1e-6)


def test_ground_truth_detections_score_one_on_synth(tiny):
    gt = load_ground_truth(tiny / "eval_tools" / "ground_truth")
    preds = {k: np.c_[gt.boxes[gt.offsets[i]:gt.offsets[i + 1]], np.ones(gt.offsets[i + 1] - gt.offsets[i])]
             for i, k in enumerate(gt.images)}
    res = evaluate(preds, gt)
    assert all(res[s] == pytest.approx(1.0, abs=1e-9) for s in ("easy", "medium", "hard")), dict(res)


def test_ensure_default_dataset_is_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(synth_mod, "DEFAULT_TRAIN", 3)
    monkeypatch.setattr(synth_mod, "DEFAULT_VAL", 4)
    monkeypatch.setattr(synth_mod, "DEFAULT_SIZE", 128)
    monkeypatch.setenv("YOLO_EXT_DATASETS", str(tmp_path / "cache"))
    yml = synth_mod.ensure_default_dataset()
    assert yml.is_file() and yml.is_relative_to(tmp_path / "cache")
    stamp = yml.stat().st_mtime_ns
    assert synth_mod.ensure_default_dataset() == yml and yml.stat().st_mtime_ns == stamp  # not regenerated
    cfg = yaml.safe_load(yml.read_text())
    assert (yml.parent / cfg["val"]).is_dir() and load_ground_truth(cfg["widerface"]["gt_dir"]).images


def mat_payloads(path):
    """Decompressed variable elements of a MAT v5 file (everything but the header text)."""
    import struct
    import zlib

    data, out, p = path.read_bytes(), [], 128
    while p < len(data):
        t, n = struct.unpack("<II", data[p:p + 8])
        assert t == 15, "expected compressed elements"
        out.append(zlib.decompress(data[p + 8:p + 8 + n]))
        p += 8 + n
    return out


@pytest.mark.skipif(SHARED is None, reason="shared/widerface reference material not found (set WIDERFACE_SHARED)")
def test_saved_ground_truth_equals_official_bytes(tmp_path):
    from yolo_ext.widerface.groundtruth import save_ground_truth

    save_ground_truth(load_ground_truth(SHARED / "ground_truth"), tmp_path)
    for name in MATS:  # identical MATLAB elements; only the zlib stream and header text differ
        assert mat_payloads(tmp_path / name) == mat_payloads(SHARED / "ground_truth" / name), name
