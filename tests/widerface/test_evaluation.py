"""WIDER FACE evaluation: hand-computed cases, a slow per-image reference, the real ground truth."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from yolo_ext.widerface import GroundTruth, PredictionFormatError, evaluate, load_ground_truth, write_predictions
from yolo_ext.widerface.groundtruth import SETTINGS, save_ground_truth
from yolo_ext.widerface.reference import REFERENCE_AP_SEED0, find_shared_widerface, make_reference_predictions

SHARED = find_shared_widerface()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared/widerface reference material not found "
                                  "(set WIDERFACE_SHARED to the folder holding ground_truth/ and make_preds.py)")


def make_gt(images, evaluated, events=None):
    """images: list of (n, 4) xywh arrays; evaluated: setting -> list of 0-based index lists."""
    counts = np.array([len(b) for b in images])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    events = events or ["0--Parade"] * len(images)
    gt = GroundTruth(sorted(set(events), key=events.index), [(e, f"img_{i}") for i, e in enumerate(events)],
                     offsets, np.concatenate([np.reshape(b, (-1, 4)) for b in images]).astype(float))
    for s in SETTINGS:
        lists = evaluated[s] if isinstance(evaluated, dict) else evaluated
        mask = np.zeros(offsets[-1], bool)
        for i, idx in enumerate(lists):
            mask[offsets[i] + np.asarray(idx, int)] = True
        gt.evaluated[s] = mask
        gt.counts[s] = np.array([len(x) for x in lists])
    return gt


# Faces A (evaluated), B (not evaluated: detections on it are dropped), C (evaluated).
FACES = np.array([[0, 0, 20, 20], [100, 100, 20, 20], [200, 0, 20, 20]])
DETS = np.array([[0, 0, 20, 20, 1.0],      # A: TP
                 [100, 100, 20, 20, 0.75],  # B: dropped (neither TP nor FP)
                 [1, 1, 20, 20, 0.5],       # A again: FP
                 [200, 0, 20, 20, 0.25],    # C: TP
                 [400, 400, 20, 20, 0.0]])  # nothing: FP
# By hand: t in (.75, 1]: P 1, R 1/2 | (.5, .75): P 1/2 | (.25, .5]: P 2/3, R 1 | t = 0: P 1/2.
# Envelope: 1 up to R 1/2, then 2/3 -> AP = 1/2 * 1 + 1/2 * 2/3.
AP_HAND = 0.5 + 0.5 * 2 / 3


def test_hand_case_ignored_and_duplicate():
    gt = make_gt([FACES], [[0, 2]])
    res = evaluate({("0--Parade", "img_0"): DETS}, gt)
    assert res["hard"] == pytest.approx(AP_HAND, abs=1e-12)
    pr = res.pr["hard"]
    assert pr.count_face == 2 and pr.tp[-1] == 2 and pr.proposals[-1] == 4  # B dropped, A-dup an FP
    assert pr.proposals[0] == 1 and pr.precision[0] == 1.0 and pr.recall[0] == 0.5


def test_hand_case_scores_outside_unit_interval_and_unsorted():
    gt = make_gt([FACES], [[0, 2]])
    for scale, shift in [(4.0, 1.0), (2.0, -1.0), (1.0, 10.0)]:  # [1, 5], [-1, 1], [10, 11]
        d = DETS.copy()
        d[:, 4] = d[:, 4] * scale + shift
        d = d[[3, 0, 4, 2, 1]]  # unsorted input
        assert evaluate({("0--Parade", "img_0"): d}, gt)["easy"] == pytest.approx(AP_HAND, abs=1e-12)


def test_all_equal_scores_count_at_every_threshold():
    gt = make_gt([FACES], [[0, 2]])
    d = DETS.copy()
    d[:, 4] = 0.3
    res = evaluate({("0--Parade", "img_0"): d}, gt)
    # every detection counts everywhere: P = 2/4, R = 1 at all thresholds
    assert res["medium"] == pytest.approx(0.5, abs=1e-12)
    assert np.all(res.pr["medium"].proposals == 4)


def test_missing_files_warn_once_and_count_faces(tmp_path):
    gt = make_gt([FACES, FACES[:1], FACES[:1]], [[0, 2], [0], []])
    write_predictions({("0--Parade", "img_0"): DETS}, tmp_path / "pred")
    with pytest.warns(UserWarning, match=r"2 of 3 images") as rec:
        res = evaluate(tmp_path / "pred", gt)
    assert len([w for w in rec if "prediction" in str(w.message)]) == 1
    # count_face 3: R 1/3 at P 1, then R 2/3 at envelope 2/3 -> AP 1/3 + 1/3 * 2/3
    assert res["hard"] == pytest.approx(1 / 3 + 2 / 9, abs=1e-12)
    assert res.n_missing == 2


def test_empty_gt_image_ignores_its_detections():
    gt = make_gt([FACES, np.zeros((0, 4))], [[0, 2], []])
    far = np.array([[500, 500, 20, 20, 0.9]])
    res = evaluate({("0--Parade", "img_0"): DETS, ("0--Parade", "img_1"): far}, gt)
    # the extra detection only widens the score range: normalised scores shift, so compare counts
    assert res.pr["hard"].proposals[-1] == 4


def slow_reference(images, gt_lists, preds, iou=0.5):
    """Obviously-correct per-image port of the official MATLAB loops (evaluation.m et al.)."""
    all_s = [p[:, 4] for p in preds if p is not None and len(p)]
    lo = min([3.4028234663852886e38] + [s.min() for s in all_s])
    hi = max([1.1754943508222875e-38] + [s.max() for s in all_s])
    pr = np.zeros((1000, 2))
    count_face = 0
    for gt, keep, pred in zip(images, gt_lists, preds):
        count_face += len(keep)
        if len(gt) == 0 or pred is None or len(pred) == 0:
            continue
        pred = pred[np.argsort(-pred[:, 4], kind="stable")].copy()
        pred[:, 4] = (pred[:, 4] - lo) / (hi - lo) if hi != lo else 1.0
        ignore = np.zeros(len(gt))
        ignore[list(keep)] = 1
        recall_list, proposal_list, pred_recall = np.zeros(len(gt)), np.ones(len(pred)), np.zeros(len(pred))
        for h in range(len(pred)):
            b = pred[h]
            best, idx = -np.inf, -1
            bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
            for j, g in enumerate(gt):
                gx1, gy1, gx2, gy2 = g[0], g[1], g[0] + g[2], g[1] + g[3]
                w = min(gx2, bx2) - max(gx1, bx1) + 1
                hh = min(gy2, by2) - max(gy1, by1) + 1
                union = (gx2 - gx1 + 1) * (gy2 - gy1 + 1) + (bx2 - bx1 + 1) * (by2 - by1 + 1) - w * hh
                o = 0.0 if w <= 0 or hh <= 0 else (w * hh / union if union else np.inf)
                if o > best:
                    best, idx = o, j
            if best >= iou:
                if ignore[idx] == 0:
                    recall_list[idx], proposal_list[h] = -1, -1
                elif recall_list[idx] == 0:
                    recall_list[idx] = 1
            pred_recall[h] = np.sum(recall_list == 1)
        for t in range(1000):
            thresh = 1 - (t + 1) / 1000
            r = np.flatnonzero(pred[:, 4] >= thresh)
            if len(r):
                pr[t] += [np.sum(proposal_list[: r[-1] + 1] == 1), pred_recall[r[-1]]]
    with np.errstate(invalid="ignore", divide="ignore"):
        prec, rec = pr[:, 1] / pr[:, 0], pr[:, 1] / count_face
    mrec, mpre = np.r_[0, rec, 1], np.r_[0, prec, 0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = mpre[i + 1] if np.isnan(mpre[i]) else max(mpre[i], mpre[i + 1])  # MATLAB max skips NaN
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return np.sum((mrec[i] - mrec[i - 1]) * mpre[i]), prec, rec


def random_case(rng):
    images, lists, preds = [], {s: [] for s in SETTINGS}, []
    for _ in range(rng.integers(3, 9)):
        n = int(rng.choice([0, 1, 2, 5, 12]))
        g = np.c_[rng.integers(0, 300, (n, 2)), rng.integers(2, 60, (n, 2))].astype(float)
        if n and rng.random() < 0.3:
            g[rng.integers(n)] = g[0]  # duplicate face: ties resolve to the first index
        if n == 0 and rng.random() < 0.5:
            g = np.zeros((1, 4))  # the official dummy row of a face-less image
        images.append(g)
        hard = [j for j in range(len(g)) if rng.random() < 0.8]
        med = [j for j in hard if rng.random() < 0.6]
        lists["hard"].append(hard), lists["medium"].append(med), lists["easy"].append([j for j in med if rng.random() < 0.6])
        k = int(rng.integers(0, 15))
        src = g[rng.integers(len(g), size=k)] if len(g) else np.zeros((k, 4))
        d = src + rng.normal(0, 3, (k, 4)) * (rng.random((k, 1)) < 0.7)
        d[rng.random(k) < 0.25] = np.c_[rng.uniform(0, 300, (1, 2)), rng.uniform(2, 60, (1, 2))]
        s = np.round(rng.uniform(-0.5, 2.0, k), int(rng.choice([1, 6])))  # rounding creates ties
        preds.append(None if rng.random() < 0.1 else np.c_[d, s])
    return images, lists, preds


@pytest.mark.parametrize("seed", range(25))
def test_vectorised_matches_slow_reference(seed):
    rng = np.random.default_rng(seed)
    images, lists, preds = random_case(rng)
    gt = make_gt(images, lists)
    mapping = {k: p for k, p in zip(gt.images, preds) if p is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(mapping, gt, iou=0.5)
    for s in SETTINGS:
        ap, prec, rec = slow_reference(images, lists[s], preds)
        assert res[s] == pytest.approx(ap, abs=1e-12), s
        np.testing.assert_allclose(res.pr[s].precision, prec, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(res.pr[s].recall, rec, atol=1e-12, equal_nan=True)


def test_prediction_file_too_few_fields_names_file_and_line(tmp_path):
    gt = make_gt([FACES], [[0, 2]])
    (tmp_path / "0--Parade").mkdir()
    (tmp_path / "0--Parade" / "img_0.txt").write_text("img_0\n2\n1 2 3 4 0.5\n1 2 3 0.4\n")
    with pytest.raises(PredictionFormatError, match=r"img_0\.txt:4: expected 5 fields"):
        evaluate(tmp_path, gt)
    (tmp_path / "0--Parade" / "img_0.txt").write_text("img_0\n2\n1 2 3 4 0.5\n1 2 3 x 0.4\n")
    with pytest.raises(PredictionFormatError, match=r"img_0\.txt:4: non-numeric"):
        evaluate(tmp_path, gt)
    (tmp_path / "0--Parade" / "img_0.txt").write_text("img_0\n3\n1 2 3 4 0.5\n")
    with pytest.raises(PredictionFormatError, match=r"img_0\.txt: the count line says 3"):
        evaluate(tmp_path, gt)


def test_missing_or_corrupt_mat_names_the_file(tmp_path):
    gt = make_gt([FACES], [[0, 2]])
    save_ground_truth(gt, tmp_path)
    assert load_ground_truth(tmp_path).evaluated["hard"].tolist() == [True, False, True]
    (tmp_path / "wider_medium_val.mat").unlink()
    with pytest.raises(FileNotFoundError, match="wider_medium_val.mat"):
        load_ground_truth(tmp_path)
    (tmp_path / "wider_medium_val.mat").write_bytes(b"MATLAB 5.0 garbage" * 10)
    with pytest.raises(ValueError, match="wider_medium_val.mat"):
        load_ground_truth(tmp_path)


def test_write_predictions_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(1)
    images, lists, preds = random_case(rng)
    gt = make_gt(images, lists)
    mapping = {k: p for k, p in zip(gt.images, preds) if p is not None}
    out = write_predictions(mapping, tmp_path / "p")
    write_predictions(mapping, out)  # replacing an existing result works
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = evaluate(mapping, gt), evaluate(out, gt)
    assert dict(a) == dict(b)


@pytest.fixture(scope="session")
def reference_preds(tmp_path_factory):
    if SHARED is None:
        pytest.skip("shared/widerface not found")
    return make_reference_predictions(SHARED, tmp_path_factory.mktemp("wider_preds") / "seed0", seed=0)


@needs_shared
def test_real_ground_truth_reference_aps(reference_preds):
    res = evaluate(reference_preds, SHARED / "ground_truth")
    for s, ref in REFERENCE_AP_SEED0.items():
        assert abs(res[s] - ref) < 1e-6, (s, res[s], ref)
    assert [res.pr[s].count_face for s in SETTINGS] == [7211, 13319, 31958]


@needs_shared
def test_cli_json_on_real_ground_truth(reference_preds):
    out = subprocess.run([sys.executable, "-m", "yolo_ext.widerface", "evaluate", "--pred", str(reference_preds),
                          "--gt", str(SHARED / "ground_truth"), "--json"], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert set(res) == set(SETTINGS) and abs(res["hard"] - REFERENCE_AP_SEED0["hard"]) < 1e-6


@needs_shared
def test_ground_truth_as_detections_scores_near_one():
    gt = load_ground_truth(SHARED / "ground_truth")
    rng = np.random.default_rng(0)
    mapping = {k: np.c_[gt.boxes[gt.offsets[i]:gt.offsets[i + 1]], rng.uniform(0.5, 1, gt.offsets[i + 1] - gt.offsets[i])]
               for i, k in enumerate(gt.images)}
    res = evaluate(mapping, gt)
    for s in SETTINGS:
        assert res[s] > 0.99, (s, res[s])


def test_iou_exactly_half_is_a_match_with_plus_one_areas():
    # face x 0..9 (area (9-0+1)^2 = 100), detection x 0..9, y 0..4 (area 50): IoU = 50/100 = 0.5
    gt = make_gt([np.array([[0, 0, 9, 9]])], [[0]])
    res = evaluate({("0--Parade", "img_0"): np.array([[0, 0, 9, 4, 0.9]])}, gt)
    assert res["hard"] == pytest.approx(1.0)
    res = evaluate({("0--Parade", "img_0"): np.array([[0, 0, 9, 3, 0.9]])}, gt)  # IoU 40/100
    assert res["hard"] == 0.0
