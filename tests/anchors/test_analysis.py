"""Anchor analysis: hand-checked BPR/AAT on a generated dataset, metric vs a slow loop, evolve, YAML rewrite, warnings."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import yolo_ext  # noqa: F401
from yolo_ext import anchors as A
from yolo_ext.cli.anchors import load_dataset_labels
from yolo_ext.cli.anchors import main as anchors_main
from yolo_ext.engine.callbacks import anchor_check
from yolo_ext.anchors import evolve_anchors, fitness_batch, write_model_yaml
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.config.paths import resolve_model_cfg

FACE_ANCHORS = np.array([[[12, 15]], [[48, 60]], [[192, 240]]], np.float64)

# Hand case at imgsz 600. Image "a" is 200 wide x 100 high (x3 to 600), image "b" 100 wide x 300 high (x2).
# label w,h at 600 px -> best anchor ratio x (anchors 12x15, 48x60, 192x240), passes when x > 1/4:
#   a1  11x14   vs 12x15: min(11/12, 14/15) = 0.917 pass; vs 48x60: 11/48 = 0.229 fail      -> 1 anchor
#   a2   3x3    vs 12x15: 3/15 = 0.2 fail                                                    -> 0
#   b1 100x10   vs 48x60: min(0.48, 10/60) = 0.167; vs 12x15: 0.12; vs 192x240: 0.042 fail   -> 0
#   b2 200x200  vs 192x240: min(0.96, 200/240) = 0.833 pass; vs 48x60: 0.24 fail             -> 1
#   b3  30x40   vs 12x15: min(0.4, 0.375) = 0.375 pass; vs 48x60: min(0.625, 0.667) pass     -> 2
#   b4 3.5x3.5  vs 12x15: 3.5/15 = 0.233 fail (just)                                          -> 0
# BPR = 3/6, AAT = 4/6, fitness = (0.9167 + 0.8333 + 0.625) / 6 = 0.3958
HAND = {"a": ((200, 100), [(11, 14), (3, 3)], 3), "b": ((100, 300), [(100, 10), (200, 200), (30, 40), (3.5, 3.5)], 2)}


def make_hand_dataset(root: Path) -> Path:
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for name, ((w, h), boxes, scale) in HAND.items():
            Image.new("RGB", (w, h), (90, 90, 90)).save(root / "images" / split / f"{name}.jpg")
            rows = [f"0 0.5 0.5 {bw / scale / w:.6f} {bh / scale / h:.6f}" for bw, bh in boxes]
            (root / "labels" / split / f"{name}.txt").write_text("\n".join(rows) + "\n")
    y = root / "data.yaml"
    y.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val", "names": {0: "face"}}))
    return y


@pytest.fixture(scope="module")
def hand_data(tmp_path_factory):
    return make_hand_dataset(tmp_path_factory.mktemp("hand"))


@pytest.fixture(scope="module")
def hand_labels(hand_data):
    return load_dataset_labels(str(hand_data), "train", 600)


def slow_metric(wh, anchors, anchor_t):
    """Obviously correct loop version of BPR / AAT / fitness."""
    k = np.asarray(anchors, float).reshape(-1, 2)
    best, above = [], []
    for w, h in wh:
        xs = [min(w / aw, aw / w, h / ah, ah / h) for aw, ah in k]
        best.append(max(xs))
        above.append(sum(x > 1 / anchor_t for x in xs))
    best = np.array(best)
    return (best > 1 / anchor_t).mean(), np.mean(above), (best * (best > 1 / anchor_t)).mean()


def test_hand_checked_bpr_on_generated_dataset(hand_labels):
    assert sorted(len(lb["bboxes"]) for lb in hand_labels) == [2, 4]
    r = A.check_anchors(hand_labels, FACE_ANCHORS, anchor_t=4.0, imgsz=600, jitter=0)
    assert r["n"] == 6 and r["bpr"] == pytest.approx(3 / 6) and r["aat"] == pytest.approx(4 / 6)
    assert r["fitness"] == pytest.approx((11 / 12 + 200 / 240 + 0.625) / 6, abs=1e-4)
    assert any("best possible recall 0.5000 < 0.98" in w and "3 of 6 labels" in w for w in r["warnings"])
    wh = np.sort(A.label_wh(hand_labels, 600, jitter=0), axis=0)
    want = np.sort(np.array([b for _, bs, _ in HAND.values() for b in bs], float), axis=0)
    np.testing.assert_allclose(wh, want, atol=1e-3)  # longest side -> imgsz, per image


def test_metric_matches_slow_loop_on_tiny_dataset(tiny_data):
    labels = load_dataset_labels(str(tiny_data), "train", 96)
    wh = A.label_wh(labels, 96, jitter=0.1, seed=3)
    anchors = np.array([[[10, 13], [16, 30]], [[30, 20], [33, 23]]], float)
    for t in (2.0, 4.0):
        r = A.check_anchors(wh, anchors, anchor_t=t)
        np.testing.assert_allclose([r["bpr"], r["aat"], r["fitness"]], slow_metric(wh, anchors, t), rtol=1e-12)
        assert fitness_batch(anchors.reshape(-1, 2), wh, t) == pytest.approx(r["fitness"], rel=1e-5)


def test_jitter_scales_each_image_by_one_factor_in_band(hand_labels):
    wh0 = A.label_wh(hand_labels, 600, jitter=0)
    wh1 = A.label_wh(hand_labels, 600, jitter=0.1, seed=1)
    f = wh1 / wh0
    counts = [len(lb["bboxes"]) for lb in hand_labels]
    per_image = np.split(f, np.cumsum(counts)[:-1])
    assert all(np.allclose(p, p[0, 0]) for p in per_image) and ((f >= 0.9) & (f <= 1.1)).all()
    assert not np.allclose(f, 1)


def test_adjacent_ratio_warning():
    bad = np.array([[[12, 15]], [[24, 30]], [[192, 240]]], float)
    wh = np.array([[12.0, 15.0], [24, 30], [192, 240]])
    r = A.check_anchors(wh, bad, anchor_t=4.0)
    assert r["bpr"] == 1.0 and r["ratios"].ravel().tolist() == [2.0, 8.0]
    assert len(r["warnings"]) == 1 and "P3->P4 anchor 0: 2.00" in r["warnings"][0] and "P4->P5" not in r["warnings"][0]
    assert A.check_anchors(wh, FACE_ANCHORS, anchor_t=4.0)["warnings"] == []
    assert A.check_anchors(wh, FACE_ANCHORS, anchor_t=4.5)["warnings"]  # 4x spacing < 4.5
    aniso = np.array([[[12, 15]], [[60, 45]]], float)  # w 5x, h 3x: both sides must grow by anchor_t
    assert A.adjacent_ratios(aniso).tolist() == [[3.0]] and A.check_anchors(wh, aniso, 4.0)["warnings"]


def test_three_anchor_yaml_spacing_is_reported():
    m = AnchorDetectionModel(str(resolve_model_cfg("face-vgg-fpn-3a.yaml")), verbose=False)
    r = A.check_anchors(np.array([[20.0, 25.0]]), m, anchor_t=4.0)
    np.testing.assert_allclose(r["ratios"], [[4, 4, 4], [4, 4, 512 / 144]])
    assert len(r["warnings"]) == 1 and "P4->P5 anchor 2: 3.56" in r["warnings"][0]


def test_evolve_improves_bad_anchors_and_never_lowers_fitness(tiny_data):
    wh = A.label_wh(load_dataset_labels(str(tiny_data), "train", 96), 96, jitter=0)
    for start in (FACE_ANCHORS, FACE_ANCHORS * 3):
        ev = evolve_anchors(wh, start, anchor_t=4.0, generations=60, seed=0)
        assert ev["fitness_after"] >= ev["fitness_before"]
        assert ev["fitness_after"] == pytest.approx(fitness_batch(ev["anchors"].reshape(-1, 2), wh, 4.0), rel=1e-6)
        assert ev["fitness_before"] == pytest.approx(A.check_anchors(wh, start, 4.0)["fitness"], rel=1e-6)
    assert ev["changed"] and ev["fitness_after"] > ev["fitness_before"] + 0.1
    assert ev["anchors"].shape == (3, 1, 2)
    areas = ev["anchors"].prod(-1).ravel()
    assert (np.diff(areas) >= 0).all()  # smallest anchor on the finest level
    again = evolve_anchors(wh, FACE_ANCHORS * 3, anchor_t=4.0, generations=60, seed=0)
    assert np.array_equal(again["anchors"], ev["anchors"])  # fixed seed
    kmeans_only = evolve_anchors(wh, FACE_ANCHORS * 3, anchor_t=4.0, generations=0, seed=0)
    single = evolve_anchors(wh, FACE_ANCHORS * 3, anchor_t=4.0, generations=60, population=1, seed=0)
    assert kmeans_only["changed"] and ev["fitness_after"] >= kmeans_only["fitness_after"]  # refinement only climbs
    assert single["fitness_after"] >= kmeans_only["fitness_after"]


def test_evolve_returns_input_when_it_is_already_optimal():
    wh = np.repeat(FACE_ANCHORS.reshape(-1, 2), 10, axis=0) * np.array([1.0, 1.0])
    ev = evolve_anchors(wh, FACE_ANCHORS, anchor_t=4.0, generations=30, seed=0)
    assert not ev["changed"] and np.array_equal(ev["anchors"], FACE_ANCHORS)
    assert ev["fitness_before"] == ev["fitness_after"] == pytest.approx(1.0)


def test_evolve_keep_ratio_respects_spacing(tiny_data):
    wh = A.label_wh(load_dataset_labels(str(tiny_data), "train", 96), 96, jitter=0)
    ev = evolve_anchors(wh, FACE_ANCHORS * 3, anchor_t=4.0, generations=60, seed=0, min_ratio=4.0)
    assert (A.adjacent_ratios(ev["anchors"]) >= 4.0 - 1e-6).all()
    assert ev["fitness_after"] >= ev["fitness_before"]


def test_write_model_yaml_keeps_structure_and_comments(tmp_path):
    src = resolve_model_cfg("face-vgg-fpn.yaml").read_text()
    new = np.array([[[10.5, 12]], [[40, 52.3]], [[170, 200]]])
    out = write_model_yaml(src, new, tmp_path / "sub" / "new.yaml", strides=[8, 16, 32])
    d0, d1 = yaml.safe_load(src), yaml.safe_load(out.read_text())
    assert d1["anchors"] == [[10.5, 12], [40, 52.3], [170, 200]]
    assert {k: v for k, v in d0.items() if k != "anchors"} == {k: v for k, v in d1.items() if k != "anchors"}
    assert "# P3/8" in out.read_text() and src.splitlines()[0] in out.read_text()
    assert not list(out.parent.glob(".*"))  # no temporary file left
    m = AnchorDetectionModel(str(out), verbose=False)
    assert m.model[-1].anchor_px.view(-1).tolist() == pytest.approx([10.5, 12, 40, 52.3, 170, 200])
    with pytest.raises(ValueError, match="anchors"):
        write_model_yaml("nc: 1\nbackbone: []\n", new, tmp_path / "x.yaml")


def test_cli_reports_and_evolves(hand_data, tmp_path, capsys):
    out = tmp_path / "evolved.yaml"
    res = anchors_main(["--data", str(hand_data), "--cfg", "face-vgg-fpn.yaml", "--imgsz", "600", "--jitter", "0",
                  "--evolve", "--generations", "40", "--out", str(out)])
    text = capsys.readouterr().out
    assert "best possible recall 0.5000" in text and "anchors above threshold 0.67" in text
    assert "level ratios P3->P4: 4.00  P4->P5: 4.00" in text and f"wrote {out}" in text
    assert res["fitness_after"] > res["fitness_before"] and res["evolved"]["bpr"] > 0.5
    assert yaml.safe_load(out.read_text())["anchors"] == res["anchors"].reshape(3, -1).tolist()


def test_cli_warns_on_badly_spaced_yaml(hand_data, tmp_path, capsys):
    src = resolve_model_cfg("face-vgg-fpn.yaml").read_text()
    bad = write_model_yaml(src, np.array([[[12, 15]], [[24, 30]], [[192, 240]]]), tmp_path / "bad.yaml")
    anchors_main(["--data", str(hand_data), "--cfg", str(bad), "--imgsz", "600"])
    assert "WARNING adjacent anchor levels closer than anchor_t=4 (P3->P4 anchor 0: 2.00)" in capsys.readouterr().out


def test_trainer_hook_checks_without_touching_anchors(hand_labels):
    model = AnchorDetectionModel(str(resolve_model_cfg("face-vgg-fpn.yaml")), verbose=False)
    before = model.model[-1].anchor_px.clone()
    trainer = SimpleNamespace(train_loader=SimpleNamespace(dataset=SimpleNamespace(labels=hand_labels)),
                              model=SimpleNamespace(module=model), args=SimpleNamespace(anchor_t=4.0, imgsz=600))
    r = anchor_check(trainer)
    assert r["n"] == 6 and 0.3 <= r["bpr"] <= 0.7 and any("best possible recall" in w for w in r["warnings"])
    assert torch.equal(model.model[-1].anchor_px, before)
    trainer.args.anchor_t = 20.0  # every label within 20x of some anchor: no BPR warning, but the spacing one
    r = anchor_check(trainer)
    assert r["bpr"] == 1.0 and len(r["warnings"]) == 1 and "adjacent" in r["warnings"][0]


@pytest.mark.slow
def test_trainer_hook_in_a_real_training_run(tiny_data, tmp_path):
    """As the lead registers it: an on_pretrain_routine_end callback of AnchorTrainer (face-rep model, 1 epoch)."""
    from yolo_ext.engine.trainer import AnchorTrainer

    got = []
    t = AnchorTrainer(overrides=dict(
        model=str(resolve_model_cfg("face-vgg-fpn-rep.yaml")), data=str(tiny_data), epochs=1, batch=4, imgsz=64,
        device="cpu", project=str(tmp_path), name="a", workers=0, plots=False, val=False, anchor_t=4.0))
    t.add_callback("on_pretrain_routine_end", lambda tr: got.append(anchor_check(tr)))
    t.train()
    (r,) = got
    assert r["n"] == sum(len(lb["bboxes"]) for lb in t.train_loader.dataset.labels) > 0
    assert r["anchors"].tolist() == FACE_ANCHORS.tolist()
    direct = A.check_anchors(t.train_loader.dataset.labels, FACE_ANCHORS, anchor_t=4.0, imgsz=64)
    assert (r["bpr"], r["aat"], r["fitness"]) == (direct["bpr"], direct["aat"], direct["fitness"])
