"""Square-crop sample redistribution (SCRFD: Guo et al., "Sample and Computation Redistribution for Efficient Face
Detection", 2021, Sec. 3.1): a random square of side ``s = U(scale) * min(h, w)`` is cut from the training image and
resized to the training size, so large faces become small (``s`` above the short side: the square reaches past the
image, padded with grey 114) and small faces large (``s`` below it); the small-face levels see many more positives.

SCRFD samples ``s`` from a discrete set in [0.3, 2.0]; here it is uniform over ``scale`` (default [0.3, 2.0]). The
square's position is uniform over all placements that keep it on the image (for ``s <= side``) or keep the image
inside it (for ``s > side``), per axis.

Boxes cut by the crop border are handled as ultralytics' own geometric transforms handle them
(``RandomPerspective.box_candidates``, called here, with its thresholds): after mapping into the crop, each box is
clipped to it and kept only if, in output pixels, its clipped width and height exceed ``WH_THR`` = 2, its clipped area
is more than ``AREA_THR`` = 0.1 of its unclipped area, and its aspect ratio stays below ``AR_THR`` = 100.

Coordinates: a point ``x`` of the input image lands at ``(x - x0) * size / s`` (``x0`` the square's left edge; the
image is warped with exactly that affine map).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cv2
import numpy as np
from ultralytics.data.augment import RandomPerspective

from .cutout import check_probability, check_range

WH_THR, AREA_THR, AR_THR = 2, 0.1, 100  # ultralytics' box_candidates defaults (RandomPerspective, detection boxes)
PAD = 114  # ultralytics' padding grey


@dataclass(frozen=True)
class SquareCropConfig:
    """Square-crop settings (keys ``square_crop``, ``square_crop_scale``).

    Attributes:
        p: probability that an image is square-cropped instead of going through the stock mosaic / affine path.
        scale: (low, high) range of the square's side as a fraction of the image's short side, 0 < low <= high.
    """

    p: float
    scale: tuple = (0.3, 2.0)

    def __post_init__(self):
        check_probability("square_crop", self.p)
        object.__setattr__(self, "scale", check_range("square_crop_scale", self.scale, 0.0))


def square_window(h: int, w: int, scale: tuple) -> tuple[int, int, int]:
    """A random square ``(x0, y0, s)`` (left, top, side in input pixels; ``x0``/``y0`` negative when the square
    reaches past the image) for an ``h x w`` image."""
    s = max(1, round(random.uniform(*scale) * min(h, w)))
    x0 = random.randint(min(0, w - s), max(0, w - s))
    y0 = random.randint(min(0, h - s), max(0, h - s))
    return x0, y0, s


def crop_boxes(boxes: np.ndarray, x0: int, y0: int, s: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4) xyxy input pixels -> (kept boxes (m, 4) xyxy output pixels, clipped; keep mask (n,) bool)."""
    f = size / s
    moved = (boxes - np.array([x0, y0, x0, y0], dtype=boxes.dtype)) * f
    clipped = moved.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, size)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, size)
    keep = RandomPerspective.box_candidates(moved.T, clipped.T, wh_thr=WH_THR, ar_thr=AR_THR, area_thr=AREA_THR)
    return clipped[keep], keep


class SquareCrop:
    """ultralytics-pipeline transform: with probability ``p`` a square crop resized to ``size x size``; otherwise the
    ``fallback`` transform (the stock mosaic / affine pre-transform it replaces), or nothing.

    Reads ``labels["img"]`` (H, W, C), ``labels["instances"]``, ``labels["cls"]``; writes the ``size x size`` image,
    the kept instances (xyxy output pixels, clipped) and classes, and ``resized_shape``. Segments and keypoints
    (not used by detection) follow the same affine map and selection.
    """

    def __init__(self, config: SquareCropConfig, size: int, fallback=None):
        self.config, self.size, self.fallback = config, int(size), fallback

    def __repr__(self):
        return f"SquareCrop({self.config}, size={self.size}, fallback={type(self.fallback).__name__})"

    def __call__(self, labels: dict) -> dict:
        if self.config.p > 0 and random.random() < self.config.p:
            return self.crop(labels)
        return self.fallback(labels) if self.fallback is not None else labels

    def crop(self, labels: dict) -> dict:
        img = labels["img"]
        h, w = img.shape[:2]
        x0, y0, s = square_window(h, w, self.config.scale)
        f = self.size / s
        m = np.array([[f, 0, -x0 * f], [0, f, -y0 * f]], dtype=np.float64)
        out = cv2.warpAffine(img, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderValue=(PAD,) * 4)
        labels["img"] = out[..., None] if out.ndim == 2 else out
        labels["resized_shape"] = (self.size, self.size)
        labels.pop("mosaic_border", None)
        instances = labels.get("instances")
        if instances is not None:
            instances.convert_bbox(format="xyxy")
            instances.denormalize(w, h)
            _, keep = crop_boxes(instances.bboxes, x0, y0, s, self.size)
            instances.add_padding(-x0, -y0)
            instances.scale(f, f)
            instances.clip(self.size, self.size)
            labels["instances"] = instances[keep]
            labels["cls"] = labels["cls"][keep]
        return labels
