"""AP and recall by face height: a hand-computed case, the single-bucket identity with the official protocol."""
import numpy as np
import pytest

from yolo_ext.widerface import evaluate
from yolo_ext.widerface.groundtruth import SETTINGS
from yolo_ext.widerface.sizes import check_edges, format_buckets, size_buckets

from widerface.test_evaluation import SHARED, make_gt, needs_shared, random_case, reference_preds  # noqa: F401

# Faces of height 6 (A), 12 (B) and 40 (C), all evaluated. Raw scores 0.9 .. 0.5 normalise to 1, .75, .5, .25, 0.
FACES = np.array([[0, 0, 6, 6], [100, 100, 12, 12], [200, 0, 40, 40]])
DETS = np.array([[200, 0, 40, 40, 0.9],    # C: TP in >= 32, dropped elsewhere
                 [0, 0, 6, 6, 0.8],        # A: TP in < 8
                 [300, 300, 10, 10, 0.7],  # no face, height 10: an FP in 8-16 only
                 [100, 100, 12, 12, 0.6],  # B: TP in 8-16
                 [400, 400, 50, 50, 0.5]])  # no face, height 50: an FP in >= 32 only


def test_hand_case_per_bucket():
    gt = make_gt([FACES], [[0, 1, 2]])
    b = size_buckets({("0--Parade", "img_0"): DETS}, gt, edges=(8, 16, 32))
    assert [x.label for x in b] == ["< 8", "8-16", "16-32", ">= 32"]
    assert [x.faces for x in b] == [1, 1, 0, 1]
    # < 8: only A's detection counts -> P 1 at R 1. 8-16: the FP (.5) ranks above B (.25) -> P 1/2 at R 1.
    # >= 32: C (1.0) above the FP (0) -> P 1 at R 1. 16-32 has no face: AP and recall undefined.
    assert b[0].ap == pytest.approx(1.0) and b[1].ap == pytest.approx(0.5) and b[3].ap == pytest.approx(1.0)
    assert np.isnan(b[2].ap) and np.isnan(b[2].recall)
    assert [b[i].recall for i in (0, 1, 3)] == [1.0, 1.0, 1.0]
    # one bucket: the official AP. TP, TP, FP, TP, FP -> 1/3 + 1/3 + 1/3 * 3/4
    (whole,) = size_buckets({("0--Parade", "img_0"): DETS}, gt, edges=())
    assert whole.ap == pytest.approx(1 / 3 + 1 / 3 + 0.25, abs=1e-12)
    assert whole.ap == pytest.approx(evaluate({("0--Parade", "img_0"): DETS}, gt)["hard"], abs=1e-15)
    assert "8-16 px" in format_buckets(b)


def test_a_missed_small_face_lowers_only_its_bucket():
    gt = make_gt([FACES], [[0, 1, 2]])
    b = size_buckets({("0--Parade", "img_0"): DETS[[0, 2, 3, 4]]}, gt, edges=(8, 16, 32))  # A's detection removed
    assert b[0].recall == 0.0 and b[0].ap == 0.0
    assert b[1].ap == pytest.approx(0.5) and b[3].ap == pytest.approx(1.0)


@pytest.mark.filterwarnings("ignore:.*no prediction file")
@pytest.mark.parametrize("seed", range(4))
def test_single_bucket_equals_the_official_ap(seed):
    images, gt_lists, preds = random_case(np.random.default_rng(seed))
    gt = make_gt(images, gt_lists)
    mapping = {key: p for key, p in zip(gt.images, preds) if p is not None}
    official = evaluate(mapping, gt)
    for s in SETTINGS:
        (whole,) = size_buckets(mapping, gt, edges=(), setting=s)
        assert whole.ap == official[s]
        assert whole.faces == official.pr[s].count_face


@pytest.mark.parametrize("edges", [(0, 8), (8, 8), (16, 8), (float("nan"),), (-1,)])
def test_bad_edges_are_named(edges):
    with pytest.raises(ValueError, match="bucket edge"):
        check_edges(edges)


def test_unknown_setting():
    gt = make_gt([FACES], [[0, 1, 2]])
    with pytest.raises(ValueError, match="'tiny'"):
        size_buckets({("0--Parade", "img_0"): DETS}, gt, setting="tiny")


@needs_shared
def test_real_ground_truth_buckets_partition_the_hard_faces(reference_preds):
    b = size_buckets(reference_preds, SHARED / "ground_truth")
    official = evaluate(reference_preds, SHARED / "ground_truth")
    assert sum(x.faces for x in b) == official.pr["hard"].count_face == 31958
    (whole,) = size_buckets(reference_preds, SHARED / "ground_truth", edges=())
    assert whole.ap == official["hard"]
    assert b[0].recall < b[-1].recall  # the reference detector, like every real one, finds big faces more easily
