"""Cutout / random erasing: visibility by hand, which boxes survive, fill values, determinism under a seed."""

import random

import numpy as np
import pytest
from ultralytics.utils.instance import Instances

from yolo_ext.augment import Cutout, CutoutConfig, visible_fraction
from yolo_ext.augment import cutout as cutout_mod
from yolo_ext.augment.cutout import RANDOM_FILL, sample_holes


def labels_with(boxes, h=40, w=60, seed=0):
    """Labels dict as ultralytics' pipeline hands it on: image, xyxy pixel instances, classes."""
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    b = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return {"img": img, "cls": np.arange(len(b), dtype=np.float32).reshape(-1, 1),
            "instances": Instances(b, np.zeros((0, 1000, 2), np.float32), bbox_format="xyxy", normalized=False)}


def config(**kw):
    return CutoutConfig(**{"p": 1.0, "holes": 1, "scale": (0.02, 0.2), "min_visible": 0.4, "fill": 114, **kw})


def test_visible_fraction_by_hand():
    holes = np.array([[2, 2, 6, 6],  # x 2..5, y 2..5
                      [4, 4, 8, 8]])  # overlaps the first: the union counts once
    boxes = np.array([[0, 0, 4, 4],  # 16 px, 4 covered -> 0.75
                      [2, 2, 6, 6],  # all covered -> 0
                      [1.5, 1.5, 2.5, 2.5],  # touches pixels 1..2 x 1..2: 4 px, (2, 2) covered -> 0.75
                      [0, 0, 10, 10],  # 100 px, union 16 + 16 - 4 = 28 covered -> 0.72
                      [8, 0, 10, 2],  # untouched -> 1
                      [3, 3, 3, 3]])  # no pixel: 1 (never dropped by cutout)
    np.testing.assert_allclose(visible_fraction(boxes, holes, 10, 10), [0.75, 0.0, 0.75, 0.72, 1.0, 1.0])
    assert visible_fraction(np.zeros((0, 4)), holes, 10, 10).shape == (0,)
    np.testing.assert_allclose(visible_fraction(boxes[:2], np.zeros((0, 4)), 10, 10), [1.0, 1.0])  # no hole


def test_visible_fraction_equals_a_pixel_loop():
    rng = np.random.default_rng(3)
    h, w = 37, 53
    for k in (1, 3, 8):
        hx, hy = np.sort(rng.integers(0, w + 1, (k, 2)), 1), np.sort(rng.integers(0, h + 1, (k, 2)), 1)
        holes = np.stack((hx[:, 0], hy[:, 0], hx[:, 1], hy[:, 1]), 1)
        covered = np.zeros((h, w), bool)
        for x1, y1, x2, y2 in holes:
            covered[y1:y2, x1:x2] = True
        xs, ys = np.sort(rng.uniform(-5, 60, (200, 2)), 1), np.sort(rng.uniform(-5, 45, (200, 2)), 1)
        boxes = np.stack((xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]), 1)
        ref = []
        for x1, y1, x2, y2 in boxes:  # obviously correct: count the pixels
            px = range(max(int(np.floor(x1)), 0), min(int(np.ceil(x2)), w))
            py = range(max(int(np.floor(y1)), 0), min(int(np.ceil(y2)), h))
            n = len(px) * len(py)
            ref.append(1.0 - sum(covered[y, x] for y in py for x in px) / n if n else 1.0)
        np.testing.assert_allclose(visible_fraction(boxes, holes, h, w), ref, atol=1e-12)


@pytest.fixture
def fixed_holes(monkeypatch):
    holes = []
    monkeypatch.setattr(cutout_mod, "sample_holes", lambda h, w, n, scale: np.array(holes, dtype=np.int64))
    return holes


def test_which_boxes_survive(fixed_holes):
    fixed_holes += [[10, 10, 30, 30]]
    boxes = [[10, 10, 30, 30],  # fully covered: dropped
             [20, 10, 40, 30],  # half covered (visible 0.5 >= 0.4): kept, unchanged
             [0, 10, 14, 30],  # 4/14 covered (visible 0.714): kept
             [12, 12, 34, 30],  # 18x18 of 22x18 covered (visible 0.18): dropped
             [40, 0, 60, 20]]  # untouched: kept
    lab = Cutout(config(min_visible=0.4))(labels_with(boxes))
    np.testing.assert_array_equal(lab["cls"].ravel(), [1, 2, 4])
    np.testing.assert_array_equal(lab["instances"].bboxes, np.array(boxes, np.float32)[[1, 2, 4]])
    assert (lab["img"][10:30, 10:30] == 114).all()
    assert Cutout(config(min_visible=0.0))(labels_with(boxes))["cls"].ravel().tolist() == [0, 1, 2, 3, 4]
    assert Cutout(config(min_visible=1.0))(labels_with(boxes))["cls"].ravel().tolist() == [4]  # any touch drops


def test_only_the_holes_are_painted_and_normalised_labels_work(fixed_holes):
    fixed_holes += [[0, 0, 6, 4], [50, 30, 60, 40]]
    lab = labels_with([[0.5, 0.5, 0.2, 0.2]])  # xywh normalised, as the dataset stores labels
    lab["instances"] = Instances(np.array([[0.5, 0.5, 0.2, 0.2]], np.float32), np.zeros((0, 1000, 2), np.float32),
                                 bbox_format="xywh", normalized=True)
    orig, before = lab["img"], lab["img"].copy()
    random.seed(0)
    out = Cutout(config(fill="random"))(lab)
    painted = np.zeros((40, 60), bool)
    painted[0:4, 0:6] = painted[30:40, 50:60] = True
    assert (out["img"][~painted] == before[~painted]).all()
    for y, x in ((0, 0), (35, 55)):  # one random colour per hole, each channel in YOLOv5's range
        block = out["img"][0:4, 0:6] if y == 0 else out["img"][30:40, 50:60]
        assert (block == block[0, 0]).all() and ((block >= RANDOM_FILL[0]) & (block <= RANDOM_FILL[1])).all()
    np.testing.assert_allclose(out["instances"].bboxes, [[24, 16, 36, 24]], atol=1e-4)  # untouched, now xyxy px
    assert (orig == before).all()  # the input array itself is never painted (it may be ultralytics' RAM cache)


def test_probability_zero_or_miss_changes_nothing():
    lab = labels_with([[0, 0, 60, 40]])
    img = lab["img"].copy()
    out = Cutout(config(p=0.0))(lab)
    assert out["img"] is lab["img"] and (out["img"] == img).all() and len(out["instances"]) == 1
    random.seed(0)
    cut, n = Cutout(config(p=0.3, fill=0)), 400
    painted = sum(bool((cut(labels_with([[0, 0, 1, 1]], seed=1))["img"] == 0).all(2).any()) for _ in range(n))
    assert abs(painted / n - 0.3) < 0.07  # binomial sd 0.023


def test_holes_lie_in_the_image_with_the_configured_area():
    random.seed(1)
    h, w = 50, 80
    holes = sample_holes(h, w, 500, (0.05, 0.1))
    assert ((holes[:, 0] >= 0) & (holes[:, 2] <= w) & (holes[:, 1] >= 0) & (holes[:, 3] <= h)).all()
    assert ((holes[:, 2] > holes[:, 0]) & (holes[:, 3] > holes[:, 1])).all()
    area = (holes[:, 2] - holes[:, 0]) * (holes[:, 3] - holes[:, 1]) / (h * w)
    assert area.max() <= 0.1 * 1.25  # rounding of the sides only
    inside = (holes[:, 0] > 0) & (holes[:, 2] < w) & (holes[:, 1] > 0) & (holes[:, 3] < h)
    assert area[inside].min() >= 0.05 * 0.75 and inside.mean() > 0.3


def test_deterministic_under_a_seed():
    boxes = [[5, 5, 25, 25], [30, 10, 50, 35], [0, 0, 10, 10]]
    cut = Cutout(config(holes=4, scale=(0.05, 0.3), fill="random"))

    def run(seed):
        random.seed(seed)
        out = cut(labels_with(boxes))
        return out["img"], out["instances"].bboxes, out["cls"]

    a, b, c = run(0), run(0), run(1)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("kw, needle", [
    ({"p": 1.5}, "cutout=1.5"), ({"p": -0.1}, "cutout=-0.1"), ({"holes": 0}, "cutout_holes=0"),
    ({"scale": (0.3, 0.1)}, "empty range"), ({"scale": (0.0, 0.1)}, "cutout_scale"), ({"scale": (0.1, 2)}, "(0, 1]"),
    ({"min_visible": 2}, "cutout_min_visible=2"), ({"fill": 256}, "cutout_fill=256"), ({"fill": "red"}, "random"),
])
def test_config_rejects_bad_values(kw, needle):
    with pytest.raises(ValueError) as e:
        config(**kw)
    assert needle in str(e.value)
