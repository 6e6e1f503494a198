"""Cutout / random erasing for detection: rectangles of the image painted over, labels of hidden objects dropped.

After DeVries & Taylor, "Improved Regularization of CNNs with Cutout" (2017: a patch whose centre lies anywhere in the
image, clipped at the border) and Zhong et al., "Random Erasing Data Augmentation" (AAAI 2020: the patch's area a
random fraction of the image, its aspect ratio random in [0.3, 1/0.3]). Fill as YOLOv5's detection cutout (Jocher et
al., ultralytics/yolov5 ``utils/augmentations.py``): a random mid-range colour per hole (each channel uniform in
64..191), or one grey value (114 is ultralytics' padding grey).

What differs from classification: a box whose visible fraction falls below ``min_visible`` is removed from the labels
(a face fully covered must not stay a positive); boxes covered less stay, unchanged. Visibility is counted in pixels:
``1 - covered / area`` over the pixels a box touches (``floor(x1)..ceil(x2)``), where covered pixels are those under
the union of all holes (overlapping holes are not counted twice), counted exactly on the grid the holes' edges make
(``visible_fraction``: no per-pixel mask, O(boxes x holes^2)).

Randomness comes from Python's ``random`` module, as in every ultralytics transform: ultralytics seeds it
(``init_seeds``, and per dataloader worker ``seed_worker``), so a run is deterministic under its ``seed``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

ASPECT = (0.3, 1 / 0.3)  # Random Erasing's aspect-ratio range (Zhong et al. 2020, r1 = 0.3)
RANDOM_FILL = (64, 191)  # YOLOv5 cutout: each channel of a hole's colour uniform in this range


def check_range(name: str, lo_hi, lo_min: float, hi_max: float = math.inf, closed_low: bool = False) -> tuple:
    """``(lo, hi)`` as floats with ``lo_min < lo <= hi <= hi_max`` (``lo_min <= lo`` if ``closed_low``), else
    ValueError naming ``name``. Shared by both augmentations and by ``yolo_ext.config.validate``."""
    try:
        lo, hi = (float(v) for v in lo_hi)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={lo_hi!r}: expected a range [low, high] of two numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name}={lo_hi!r}: the range must be finite")
    if lo > hi:
        raise ValueError(f"{name}={lo_hi!r}: empty range (low > high)")
    low_ok = lo >= lo_min if closed_low else lo > lo_min
    if not low_ok or hi > hi_max:
        left = "[" if closed_low else "("
        right = "]" if math.isfinite(hi_max) else ")"
        raise ValueError(f"{name}={lo_hi!r}: low and high must lie in {left}{lo_min:g}, {hi_max:g}{right}")
    return lo, hi


def check_probability(name: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"{name}={p!r}: a probability must be a number in [0, 1]")
    return float(p)


def check_fill(name: str, fill):
    """``"random"`` or an integer grey value 0..255."""
    if fill == "random":
        return fill
    if isinstance(fill, bool) or not isinstance(fill, (int, float)) or fill != int(fill) or not 0 <= fill <= 255:
        raise ValueError(f"{name}={fill!r}: expected 'random' or an integer grey value in 0..255 (114 = ultralytics' "
                         "padding grey)")
    return int(fill)


@dataclass(frozen=True)
class CutoutConfig:
    """Cutout settings (keys ``cutout``, ``cutout_holes``, ``cutout_scale``, ``cutout_min_visible``, ``cutout_fill``).

    Attributes:
        p: probability that an image gets holes at all.
        holes: number of holes per image (>= 1).
        scale: (low, high) range of each hole's area as a fraction of the image area, 0 < low <= high <= 1.
        min_visible: a box keeps its label if at least this fraction of its pixels stays visible, in [0, 1]
            (0: never drop; 1: drop any box a hole touches).
        fill: ``"random"`` (a colour per hole, YOLOv5) or a grey value 0..255.
    """

    p: float
    holes: int
    scale: tuple
    min_visible: float
    fill: object = "random"

    def __post_init__(self):
        check_probability("cutout", self.p)
        if isinstance(self.holes, bool) or not isinstance(self.holes, int) or self.holes < 1:
            raise ValueError(f"cutout_holes={self.holes!r}: must be an integer >= 1")
        object.__setattr__(self, "scale", check_range("cutout_scale", self.scale, 0.0, 1.0))
        check_probability("cutout_min_visible", self.min_visible)
        object.__setattr__(self, "fill", check_fill("cutout_fill", self.fill))


def sample_holes(h: int, w: int, n: int, scale: tuple) -> np.ndarray:
    """``n`` holes (n, 4) int ``x1, y1, x2, y2`` (pixel edges, clipped to the image) for an ``h x w`` image: area
    fraction uniform in ``scale``, aspect ratio log-uniform in ``ASPECT``, centre uniform over the image."""
    out = np.zeros((n, 4), dtype=np.int64)
    for k in range(n):  # n is a handful of holes, not targets
        area = random.uniform(*scale) * h * w
        r = math.exp(random.uniform(math.log(ASPECT[0]), math.log(ASPECT[1])))  # height / width
        hh, ww = min(max(round(math.sqrt(area * r)), 1), h), min(max(round(math.sqrt(area / r)), 1), w)
        cx, cy = random.uniform(0, w), random.uniform(0, h)
        x1, y1 = round(cx - ww / 2), round(cy - hh / 2)
        out[k] = (max(x1, 0), max(y1, 0), min(x1 + ww, w), min(y1 + hh, h))
    return out


def visible_fraction(boxes: np.ndarray, holes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fraction of each box's pixels not under any hole, for an ``h x w`` image.

    boxes (n, 4) xyxy pixels, each counted as the pixel rectangle ``floor(x1)..ceil(x2) x floor(y1)..ceil(y2)``
    clipped to the image (a box with no pixel is 1); holes (k, 4) int xyxy pixel edges. Exact pixel counts of the
    union of the holes, without a mask: the holes' edges cut the image into at most (2k + 1)^2 cells, each wholly
    covered or not, and a box's hidden pixels are its overlaps with the covered cells, O(n k^2).
    """
    if not len(boxes):
        return np.zeros(0)
    x1 = np.clip(np.floor(boxes[:, 0]), 0, w)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, h)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, w)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, h)
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    holes = np.asarray(holes, dtype=np.float64).reshape(-1, 4)
    xs = np.unique(np.concatenate(([0, w], holes[:, [0, 2]].ravel())))
    ys = np.unique(np.concatenate(([0, h], holes[:, [1, 3]].ravel())))
    mx, my = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2  # cell centres
    inx = (holes[:, None, 0] <= mx) & (mx < holes[:, None, 2])  # (k, cells in x)
    iny = (holes[:, None, 1] <= my) & (my < holes[:, None, 3])  # (k, cells in y)
    covered = (iny[:, :, None] & inx[:, None, :]).any(0).astype(np.float64)  # (cells y, cells x)
    ox = np.clip(np.minimum(x2[:, None], xs[None, 1:]) - np.maximum(x1[:, None], xs[None, :-1]), 0, None)
    oy = np.clip(np.minimum(y2[:, None], ys[None, 1:]) - np.maximum(y1[:, None], ys[None, :-1]), 0, None)
    hidden = np.einsum("ny,yx,nx->n", oy, covered, ox)
    return np.where(area > 0, 1.0 - hidden / np.maximum(area, 1), 1.0)


class Cutout:
    """ultralytics-pipeline transform (``labels -> labels``): paints ``holes`` rectangles, drops hidden boxes.

    Reads ``labels["img"]`` (H, W, C) uint8, ``labels["instances"]`` (any box format) and ``labels["cls"]`` (n, 1);
    writes a new image and the kept instances (xyxy pixels) / classes. With probability ``1 - p`` nothing changes
    (one ``random.random()`` draw).
    """

    def __init__(self, config: CutoutConfig):
        self.config = config

    def __repr__(self):
        return f"Cutout({self.config})"

    def __call__(self, labels: dict) -> dict:
        cfg = self.config
        if cfg.p <= 0 or random.random() >= cfg.p:
            return labels
        img = labels["img"].copy()  # never paint a cached image in place
        h, w = img.shape[:2]
        holes = sample_holes(h, w, cfg.holes, cfg.scale)
        for x1, y1, x2, y2 in holes:
            if cfg.fill == "random":
                colour = np.array([random.randint(*RANDOM_FILL) for _ in range(img.shape[2] if img.ndim == 3 else 1)],
                                  dtype=img.dtype)
            else:
                colour = cfg.fill
            img[y1:y2, x1:x2] = colour
        labels["img"] = img
        instances = labels.get("instances")
        if instances is not None and len(instances):
            instances.convert_bbox(format="xyxy")
            instances.denormalize(w, h)
            keep = visible_fraction(instances.bboxes, holes, h, w) >= cfg.min_visible
            labels["instances"] = instances[keep]
            labels["cls"] = labels["cls"][keep]
        return labels
