"""SCRFD square crop: exact box coordinates after the crop, which border-cut boxes survive (ultralytics' thresholds),
the pixels, the window's placement, determinism under a seed."""

import inspect
import random

import numpy as np
import pytest
from ultralytics.data.augment import RandomPerspective
from ultralytics.utils.instance import Instances

from yolo_ext.augment import AR_THR, AREA_THR, WH_THR, SquareCrop, SquareCropConfig, crop_boxes
from yolo_ext.augment import square_crop as sq_mod
from yolo_ext.augment.square_crop import PAD, square_window


def labels_with(boxes, h=100, w=200):
    img = (np.arange(h * w * 3) % 251).astype(np.uint8).reshape(h, w, 3)  # every pixel tells where it came from
    b = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return {"img": img, "cls": np.arange(len(b), dtype=np.float32).reshape(-1, 1),
            "instances": Instances(b, np.zeros((0, 1000, 2), np.float32), bbox_format="xyxy", normalized=False)}


BOXES = [[60, 10, 80, 30],  # inside: -> (5, 5, 15, 15)
         [40, 10, 60, 30],  # half left of the crop: clipped to (0, 5, 5, 15), area 0.5 of its unclipped 10x10: kept
         [45, 10, 55, 30],  # clipped width 2.5 px > 2: kept as (0, 5, 2.5, 15)
         [48, 0, 52, 100],  # clipped width 1 px <= 2: dropped
         [0, 10, 55, 30],  # clipped area 25 of 275 (0.09 <= 0.1): dropped
         [10, 10, 59, 30],  # clipped area 45 of 245 (0.18): kept as (0, 5, 4.5, 15)
         [0, 0, 40, 40],  # wholly outside: dropped
         [140, 90, 160, 100]]  # bottom-right corner of the crop: (45, 45, 50, 50)
KEPT = [0, 1, 2, 5, 7]
AFTER = [[5, 5, 15, 15], [0, 5, 5, 15], [0, 5, 2.5, 15], [0, 5, 4.5, 15], [45, 45, 50, 50]]


def test_thresholds_are_ultralytics_own():
    params = inspect.signature(RandomPerspective.box_candidates).parameters
    assert (params["wh_thr"].default, params["ar_thr"].default, params["area_thr"].default) == (WH_THR, AR_THR,
                                                                                                 AREA_THR)


def test_crop_boxes_by_hand():
    # a 200x100 image, the square x 50..150, y 0..100 (s = 100), resized to 50 px: f = 0.5
    kept, keep = crop_boxes(np.array(BOXES, np.float64), 50, 0, 100, 50)
    assert np.flatnonzero(keep).tolist() == KEPT
    np.testing.assert_allclose(kept, AFTER)


def test_aspect_ratio_threshold_drops_slivers():
    kept, keep = crop_boxes(np.array([[0, 0, 1000, 4.0]]), 0, 0, 1000, 1000)  # 1000 x 4 px: ratio 250 >= 100
    assert not keep.any()


@pytest.fixture
def window(monkeypatch):
    w = {}
    monkeypatch.setattr(sq_mod, "square_window", lambda h, w_, scale: w["v"])
    return w


def test_transform_crops_image_and_labels(window):
    window["v"] = (50, 0, 100)
    lab = labels_with(BOXES)
    img = lab["img"].copy()
    out = SquareCrop(SquareCropConfig(p=1.0), size=100)(lab)  # f = 1: a pure shift, pixels exact
    np.testing.assert_array_equal(out["img"], img[0:100, 50:150])
    assert out["resized_shape"] == (100, 100)
    np.testing.assert_array_equal(out["cls"].ravel(), KEPT)
    np.testing.assert_allclose(out["instances"].bboxes, np.array(AFTER) * 2, atol=1e-4)

    window["v"] = (50, 0, 100)
    out = SquareCrop(SquareCropConfig(p=1.0), size=50)(labels_with(BOXES))  # f = 0.5
    assert out["img"].shape == (50, 50, 3)
    np.testing.assert_allclose(out["instances"].bboxes, AFTER, atol=1e-4)


def test_square_past_the_image_is_padded_and_boxes_shrink(window):
    window["v"] = (-100, -150, 400)  # s = 2x the 200 px width: the image sits inside, grey around it
    lab = labels_with([[0, 0, 200, 100], [100, 50, 120, 70]])
    img = lab["img"].copy()
    out = SquareCrop(SquareCropConfig(p=1.0, scale=(2.0, 2.0)), size=400)(lab)
    np.testing.assert_array_equal(out["img"][150:250, 100:300], img)
    assert (out["img"][:150] == PAD).all() and (out["img"][250:] == PAD).all() and (out["img"][:, :100] == PAD).all()
    np.testing.assert_allclose(out["instances"].bboxes, [[100, 150, 300, 250], [200, 200, 220, 220]], atol=1e-4)

    window["v"] = (-100, -150, 400)
    out = SquareCrop(SquareCropConfig(p=1.0), size=100)(labels_with([[100, 50, 120, 70]]))  # f = 1/4: faces shrink
    np.testing.assert_allclose(out["instances"].bboxes, [[50, 50, 55, 55]], atol=1e-4)


def test_normalised_xywh_labels_are_read_as_the_dataset_stores_them(window):
    window["v"] = (50, 0, 100)
    lab = labels_with([])
    lab["instances"] = Instances(np.array([[0.35, 0.2, 0.1, 0.2]], np.float32), np.zeros((0, 1000, 2), np.float32),
                                 bbox_format="xywh", normalized=True)  # = xyxy px (60, 10, 80, 30)
    lab["cls"] = np.zeros((1, 1), np.float32)
    out = SquareCrop(SquareCropConfig(p=1.0), size=50)(lab)
    np.testing.assert_allclose(out["instances"].bboxes, [[5, 5, 15, 15]], atol=1e-4)


def test_window_placement_and_scale():
    random.seed(0)
    for h, w in ((100, 200), (300, 120)):
        for _ in range(300):
            x0, y0, s = square_window(h, w, (0.3, 2.0))
            assert round(0.3 * min(h, w)) <= s <= round(2.0 * min(h, w))
            for lo, side in ((x0, w), (y0, h)):
                assert (0 <= lo <= side - s) if s <= side else (side - s <= lo <= 0)


def test_probability_picks_crop_or_fallback():
    calls = []
    fallback = lambda lab: calls.append(1) or lab  # noqa: E731
    t = SquareCrop(SquareCropConfig(p=0.0), size=64, fallback=fallback)
    lab = labels_with([[0, 0, 10, 10]])
    assert t(lab) is lab and calls == [1]
    random.seed(0)
    t = SquareCrop(SquareCropConfig(p=0.25), size=64, fallback=fallback)
    calls.clear()
    n = 400
    crops = sum(t(labels_with([[0, 0, 10, 10]]))["img"].shape[:2] == (64, 64) for _ in range(n))
    assert crops + len(calls) == n and abs(crops / n - 0.25) < 0.07


def test_deterministic_under_a_seed():
    t = SquareCrop(SquareCropConfig(p=1.0), size=64)

    def run(seed):
        random.seed(seed)
        out = t(labels_with(BOXES))
        return out["img"], out["instances"].bboxes

    a, b, c = run(0), run(0), run(5)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kw, needle", [
    ({"p": 1.2}, "square_crop=1.2"), ({"p": -1}, "square_crop=-1"), ({"scale": (2.0, 0.3)}, "empty range"),
    ({"scale": (0.0, 1.0)}, "square_crop_scale"), ({"scale": (0.3,)}, "[low, high]"),
    ({"scale": (0.3, float("inf"))}, "finite"),
])
def test_config_rejects_bad_values(kw, needle):
    with pytest.raises(ValueError) as e:
        SquareCropConfig(**{"p": 0.5, **kw})
    assert needle in str(e.value)
