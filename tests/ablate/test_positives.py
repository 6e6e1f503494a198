"""Positives per face of a finished run (``yolo_ext.ablate.positives``): a hand-counted YOLOv5 case through the real
letterbox, equality with a slow per-face count of the assigner called directly (yolov5 and the prediction-aware tal),
YOLOv5's at-most-3-cells-per-level property, the final epoch's assigner after a warm-up, the run-directory cache,
errors naming the file, the report columns, and the live ``targets`` counter in the epoch line claims.py parses."""

import json
import math
import os
from copy import deepcopy
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from ultralytics.utils import DEFAULT_CFG

import yolo_ext  # noqa: F401
from yolo_ext.ablate import claims, positives, records
from yolo_ext.ablate.claims import Tier
from yolo_ext.ablate.claims_report import claims_markdown
from yolo_ext.ablate.positives import PositivesError, cached_positives, positives_per_face, train_loader
from yolo_ext.assign import build_assigner
from yolo_ext.config.defaults import trainer_base_cfg
from yolo_ext.config.paths import resolve_model_cfg
from yolo_ext.criterion import YOLOv5Criterion
from yolo_ext.criterion.config import CriterionConfig
from yolo_ext.engine import AnchorDetectionModel
from yolo_ext.engine import callbacks

from helpers import fixed_batch, make_tiny_dataset

FACE = str(resolve_model_cfg("face-vgg-fpn.yaml"))  # 1 anchor per level: P3 12x15, P4 48x60, P5 192x240


def make_run(root, data_yaml, imgsz, seed=0, **overrides):
    """A finished-run directory as the ablation runner leaves it: ablate_config.json and weights/last.pt (a checkpoint
    as ultralytics saves it: half-precision model, train_args)."""
    torch.manual_seed(seed)
    model = AnchorDetectionModel(FACE, nc=1, verbose=False)
    cfg = {"model": FACE, "data": str(data_yaml), "imgsz": imgsz, "epochs": 3, **overrides}
    args = {**trainer_base_cfg(DEFAULT_CFG), **cfg}
    run = root / "runs" / "x-s0"
    (run / "weights").mkdir(parents=True)
    (run / "ablate_config.json").write_text(json.dumps(cfg))
    torch.save({"model": deepcopy(model).half(), "ema": None, "train_args": args, "epoch": 2}, run / "weights/last.pt")
    return run


def hand_dataset(root):
    """Two training images with one face each; a 128x64 image letterboxed to 64 (scale 0.5, 16 px bands top and
    bottom) and a 64x64 one with a 2 px face that no anchor's ratio test accepts."""
    for sub in ("images/train", "labels/train", "images/val", "labels/val"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.full((64, 128, 3), 90, np.uint8)).save(root / "images/train/a.png")
    (root / "labels/train/a.txt").write_text(f"0 {70 / 128} {20 / 64} {40 / 128} {24 / 64}\n")  # px: c (70, 20), 40x24
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(root / "images/train/b.png")
    (root / "labels/train/b.txt").write_text(f"0 0.5 0.5 {2 / 64} {2 / 64}\n")
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(root / "images/val/c.png")
    (root / "labels/val/c.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    y = root / "data.yaml"
    y.write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: face\n")
    return y


def test_letterbox_and_a_hand_counted_yolov5_case(tmp_path):
    """Image a at 64 px: face centre (35, 26), 20x12 px. P3 (stride 8, anchor 12x15): ratios 1.67 / 1.25 pass;
    grid (4.375, 3.25): the centre cell plus its left and upper neighbours (fractions < 0.5) = 3 positives. P4
    (48x60: 60/12 = 5 > 4) and P5 fail. Image b's 2 px face fails every level (12/2 = 6 > 4)."""
    data = hand_dataset(tmp_path / "data")
    (batch,) = list(train_loader(str(data), 64, batch=16))
    face_a = batch["bboxes"][batch["batch_idx"] == 0]
    torch.testing.assert_close(face_a, torch.tensor([[35 / 64, 26 / 64, 20 / 64, 12 / 64]]))
    r = positives_per_face(make_run(tmp_path, data, 64))
    assert (r["images"], r["faces"], r["positives"], r["imgsz"], r["assigner"]) == (2, 2, 3, 64, "yolov5")
    assert r["positives_per_face"] == 1.5 and r["no_positive"] == 0.5 and r["level_share"] == [1.0, 0.0, 0.0]


def slow_count(run, data_yaml, imgsz, spec, params):
    """Per image: labels read by hand (square images at their own size: the letterbox is the identity), the image
    read with cv2 as ultralytics does, the assigner called directly; then a loop over faces counting ``t == i``."""
    model = AnchorDetectionModel(FACE, nc=1, verbose=False)
    model.load_state_dict(torch.load(run / "weights/last.pt", weights_only=False)["model"].float().state_dict())
    model.eval()
    head = model.model[-1]
    assigner = build_assigner(spec, **params)
    per_face, per_level = [], np.zeros(3, int)
    for img_path in sorted((data_yaml.parent / "images/train").glob("*.jpg")):
        labels = np.loadtxt(data_yaml.parent / "labels/train" / f"{img_path.stem}.txt", ndmin=2)
        t = torch.tensor(np.column_stack((np.zeros(len(labels)), labels)), dtype=torch.float32)
        x = torch.from_numpy(np.ascontiguousarray(cv2.imread(str(img_path))[..., ::-1].transpose(2, 0, 1)))
        with torch.no_grad():
            maps = [m.float() for m in model(x[None].float() / 255)[1]["preds"]]
            boxes = head.decode_boxes(maps)
        scores = [m[..., 4:5].sigmoid() * m[..., 5:].sigmoid() for m in maps]
        out = assigner(t, head.anchor_px.float(), head.stride, [tuple(m.shape[2:4]) for m in maps], boxes, scores,
                       batch_size=1)
        for i in range(len(t)):
            counts = [int((lv.t == i).sum()) for lv in out.levels]
            per_face.append(counts)
            per_level += counts
    return np.array(per_face), per_level


@pytest.mark.parametrize("assigner", ["yolov5", "tal"])
def test_equals_a_slow_per_face_count_of_the_assigner(tmp_path, assigner):
    data = make_tiny_dataset(tmp_path / "data", n_train=6, n_val=1, size=96)
    run = make_run(tmp_path, data, 96, assigner=assigner, tal_topk=5)
    r = positives_per_face(run, batch=4 if assigner == "yolov5" else 1)  # tal: one image per forward, as slow_count
    params = CriterionConfig.from_args({**trainer_base_cfg(DEFAULT_CFG), "assigner": assigner, "tal_topk": 5})
    per_face, per_level = slow_count(run, data, 96, assigner, params.assigner_params)
    assert r["faces"] == len(per_face) > 6 and r["positives"] == per_level.sum() > 0
    assert r["positives_per_face"] == pytest.approx(per_face.sum() / len(per_face))
    assert r["no_positive"] == pytest.approx((per_face.sum(1) == 0).mean())
    assert r["level_share"] == pytest.approx(list(per_level / per_level.sum()))
    if assigner == "yolov5":  # one anchor per level: the centre cell and at most 2 neighbours on each level
        assert per_face.max() <= 3 and r["positives_per_face"] <= 3 * 3


def test_the_final_epochs_assigner_not_the_warm_up(tmp_path):
    data = hand_dataset(tmp_path / "data")
    r = positives_per_face(make_run(tmp_path, data, 64, assigner="tal", assigner_warmup="atss",
                                    assigner_warmup_epochs=2))  # epochs 3: the last epoch (2) runs tal
    assert r["assigner"] == "tal"


def test_cache_is_reused_and_invalidated_by_a_new_last_pt(tmp_path, monkeypatch):
    data = hand_dataset(tmp_path / "data")
    run = make_run(tmp_path, data, 64)
    calls = []
    real = positives.positives_per_face
    monkeypatch.setattr(positives, "positives_per_face", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = cached_positives(run)
    assert cached_positives(run) == first and len(calls) == 1
    stored = json.loads((run / "positives.json").read_text())
    assert stored["result"] == first and stored["key"]["weights_size"] == (run / "weights/last.pt").stat().st_size
    st = (run / "weights/last.pt").stat()
    os.utime(run / "weights/last.pt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # retrained: a new last.pt
    assert cached_positives(run) == first and len(calls) == 2
    assert cached_positives(run, imgsz=96)["imgsz"] == 96 and len(calls) == 3  # other settings: another key
    assert not list(run.glob(".*tmp"))  # written atomically, no temp file left


def test_errors_name_the_missing_file(tmp_path):
    run = tmp_path / "runs" / "y-s0"
    run.mkdir(parents=True)
    with pytest.raises(PositivesError, match="ablate_config.json: missing"):
        positives_per_face(run)
    (run / "ablate_config.json").write_text(json.dumps({"data": "d.yaml"}))
    with pytest.raises(PositivesError, match=r"weights/last.pt: missing"):
        positives_per_face(run)
    with pytest.raises(PositivesError, match=r"weights/last.pt: missing"):
        cached_positives(run)


def test_report_shows_positives_per_face_and_na_without_a_run_dir(tmp_path, monkeypatch):
    fake = {tmp_path / "a0": (4.0, 0.2), tmp_path / "a1": (5.0, 0.3)}
    monkeypatch.setattr(positives, "cached_positives",
                        lambda d: dict(zip(("positives_per_face", "no_positive"), fake[d])))
    m = lambda h: {"easy": h, "medium": h, "hard": h}  # noqa: E731
    t = Tier("16 epochs", "plan.yaml", 2, "base", "data.yaml", rows={"base", "a"})
    t.values = {"base": {0: m(0.30), 1: m(0.32)}, "a": {0: m(0.36), 1: m(0.35)}}
    t.run_dirs = {("a", 0): tmp_path / "a0", ("a", 1): tmp_path / "a1"}
    t.evidence = {k: records.balance_evidence(d) for k, d in t.run_dirs.items()}  # as load_tier records them
    md = claims_markdown([claims.Claim("1", "a helps", "better", "all", (("a", None),))], [t], "cmd")
    assert "| positives per face | faces with no positive |" in md
    row = lambda name: [ln for ln in md.splitlines() if ln.startswith(f"| `{name}` |")][0]  # noqa: E731
    assert row("a").endswith("| 4.50 | 25.0 % |")  # means over the two seeds: 4.5, 25 %
    assert row("base").endswith("| n/a | n/a |")  # no run directory (e.g. a first-study seed)


def test_a_run_dir_without_weights_reads_na(tmp_path):
    ev = records.balance_evidence(tmp_path)
    assert math.isnan(ev["positives_per_face"]) and math.isnan(ev["no_positive"])


def test_epoch_line_counts_targets_and_still_matches_the_claims_regex(monkeypatch):
    torch.manual_seed(0)
    model = AnchorDetectionModel(FACE, nc=1, verbose=False)
    model.args = SimpleNamespace(**{**trainer_base_cfg(DEFAULT_CFG), "imgsz": 64})
    batch = fixed_batch(imgsz=64)  # 8 targets
    for _ in range(3):
        model.loss(batch)
    model.criterion.update()
    lines = []
    monkeypatch.setattr(callbacks.LOGGER, "info", lines.append)
    callbacks.log_epoch_stats(SimpleNamespace(model=model))
    assert lines[0].startswith("epoch stats: positives=") and ", targets=24, " in lines[0]
    assert float(records._POS.findall(lines[0])[0]) == model.criterion.last_epoch_stats["positives"] > 0
    assert isinstance(model.criterion, YOLOv5Criterion)


@pytest.mark.parametrize("assigner,forwards", [("yolov5", 0), ("radius+dedup", 0), ("tal", 2), ("yolov5+ignore", 2)])
def test_forward_only_for_an_assigner_that_reads_predictions(tmp_path, monkeypatch, assigner, forwards):
    data = hand_dataset(tmp_path / "data")
    calls, real = [], positives.load_run

    def load_run(run_dir):
        model, settings = real(run_dir)
        model.register_forward_pre_hook(lambda *a: calls.append(1))
        return model, settings

    monkeypatch.setattr(positives, "load_run", load_run)
    r = positives_per_face(make_run(tmp_path, data, 64, assigner=assigner), batch=1)
    assert len(calls) == forwards and r["assigner"] == assigner and r["faces"] == 2


@pytest.mark.parametrize("assigner", ["yolov5", "radius+dedup", "tal"])
def test_assigner_alone_equals_the_run_measurement_when_it_reads_no_prediction(tmp_path, assigner):
    """static_positives builds the model from its YAML: for an assigner that reads no prediction the counts equal
    those of the trained run's weights (they cannot depend on them); for one that reads predictions it declines."""
    from yolo_ext.ablate.positives import static_positives

    data = make_tiny_dataset(tmp_path / "data", n_train=6, n_val=1, size=96)
    run = make_run(tmp_path, data, 96, seed=3, assigner=assigner)
    config = json.loads((run / "ablate_config.json").read_text())
    alone = static_positives(config, str(data), batch=4)
    if assigner == "tal":
        assert alone is None
        return
    measured = positives_per_face(run, batch=4)
    assert alone == measured and alone["positives"] > 0


def test_report_uses_the_assigner_alone_for_a_row_without_run_dirs(tmp_path, monkeypatch):
    from yolo_ext.ablate.plan import RunSpec

    calls = []
    monkeypatch.setattr(claims, "_STATIC", {})
    monkeypatch.setattr(claims, "static_positives", lambda cfg, data: calls.append(cfg["assigner"]) or (
        {"positives_per_face": 8.25, "no_positive": 0.02} if cfg["assigner"] == "radius" else None))
    m = lambda h: {"easy": h, "medium": h, "hard": h}  # noqa: E731
    t = Tier("16 epochs", "plan.yaml", 1, "base", "data.yaml", rows={"base", "r"},
             configs={"base": RunSpec("base", "", {"model": FACE, "assigner": "tal"}),
                      "r": RunSpec("r", "", {"model": FACE, "assigner": "radius"})})
    t.values = {"base": {0: m(0.30)}, "r": {0: m(0.2)}}
    cl = [claims.Claim(str(i), "r hurts", "worse", "all", (("r", None),)) for i in (1, 2)]
    md = claims_markdown(cl, [t], "cmd")
    row = lambda name: [ln for ln in md.splitlines() if ln.startswith(f"| `{name}` |")][0]  # noqa: E731
    assert row("r").endswith("| 8.25 (a) | 2.0 % (a) |") and row("base").endswith("| n/a | n/a |")
    assert sorted(calls) == ["radius", "tal"], "computed once per configuration, although two claims show it"
