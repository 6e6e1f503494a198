"""Rendering for the synthetic WIDER FACE stand-in: offline assets, backgrounds, face pasting.

Assets come only from data bundled with scikit-image (no download): the LFW subset
(``skimage.data.lfw_subset()``: 100 tight 25x25 grayscale face crops followed by 100 non-face
crops, used as hard-negative distractors) and the bundled photos/textures listed in
:data:`BACKGROUNDS` (pictures containing human faces, e.g. ``astronaut`` and ``camera``, are
deliberately excluded: an unlabelled face would be a label error). Images are float32 HxWx3 in
[0, 1]; boxes are integer pixels ``x, y, w, h``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

# skimage.data loaders that work offline and show no human face
BACKGROUNDS = ("brick", "grass", "gravel", "moon", "coins", "clock", "text", "page", "cat", "chelsea",
               "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel",
               "stereo_motorcycle")
# multiplicative RGB tints of a grayscale face (a spread of skin tones)
SKIN_TINTS = np.array([[1.00, 0.86, 0.74], [0.98, 0.80, 0.66], [0.92, 0.72, 0.56], [0.80, 0.60, 0.45],
                       [0.62, 0.46, 0.34], [0.48, 0.35, 0.26], [1.00, 0.92, 0.84], [0.90, 0.78, 0.70]], np.float32)


@dataclass
class FaceStyle:
    """Per-face appearance, mirroring the WIDER attribute columns it is recorded in.

    blur 0/1/2 (clear/normal/heavy), expression 0/1, illumination 0/1 (normal/extreme),
    occlusion 0/1/2 (none/partial/heavy), pose 0/1 (typical/atypical)."""

    crop: int
    flip: bool
    tint: np.ndarray
    blur: int
    expression: int
    illumination: int
    occlusion: int
    pose: int
    angle: float
    gain: float


@functools.lru_cache(maxsize=1)
def lfw_crops():
    """(faces (100, 25, 25), non-faces (100, 25, 25)) float32 in [0, 1]."""
    from skimage import data

    x = data.lfw_subset().astype(np.float32)
    return x[:100], x[100:]


@functools.lru_cache(maxsize=None)
def background(name: str) -> np.ndarray:
    """One bundled scikit-image picture as float32 HxWx3 in [0, 1]."""
    from skimage import data

    img = getattr(data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    img = img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else max(float(img.max()), 1.0))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """float32 HxW(xC) in [0, 1] -> (h, w(, C)) with PIL (deterministic, area-aware down-scaling)."""
    u8 = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(u8).resize((w, h), Image.Resampling.LANCZOS), dtype=np.float32) / 255


def render_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Random crop (25-100 % of the picture), flip, resize, colour jitter -> (height, width, 3)."""
    src = background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))])
    H, W = src.shape[:2]
    frac = rng.uniform(0.25, 1.0)
    ch = max(8, int(min(H, W * height / width) * frac))
    cw = max(8, int(ch * width / height))
    y0, x0 = rng.integers(0, H - ch + 1), rng.integers(0, W - cw + 1)
    img = src[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    img = _resize(img, width, height)
    gain = rng.uniform(0.6, 1.3, 3).astype(np.float32)  # per-channel colour cast
    contrast = np.float32(rng.uniform(0.6, 1.2))
    mean = img.mean()
    img = (img - mean) * contrast + mean
    return np.clip(img * gain, 0, 1)


def ellipse_alpha(w: int, h: int, soft: float = 0.18) -> np.ndarray:
    """(h, w) soft elliptical alpha: 1 inside, linear fall-off over ``soft`` of the radius, 0 at the
    box border (no square tile edges for a detector to key on)."""
    y = (np.arange(h, dtype=np.float32) + 0.5) / h * 2 - 1
    x = (np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1
    r = np.sqrt(x[None, :] ** 2 / 0.92 ** 2 + y[:, None] ** 2 / 0.98 ** 2)
    return np.clip((1 - r) / soft, 0, 1)


def _expression_warp(crop: np.ndarray) -> np.ndarray:
    """Exaggerated expression: stretch the lower face (mouth/jaw) vertically."""
    n = crop.shape[0]
    t = np.linspace(0, 1, n)
    src = np.where(t < 0.5, t, 0.5 + (t - 0.5) * 0.75) * (n - 1)  # lower half sampled slower
    return crop[np.round(src).astype(int)]


def face_patch(style: FaceStyle, w: int, h: int, distractor: bool = False):
    """-> (rgb (h, w, 3), alpha (h, w)) float32 for one face (or a non-face distractor)."""
    faces, others = lfw_crops()
    crop = (others if distractor else faces)[style.crop]
    crop = crop[:, ::-1] if style.flip else crop
    if style.expression:
        crop = _expression_warp(crop)
    alpha = ellipse_alpha(25, 25)
    if style.pose:  # atypical pose: in-plane rotation of crop and mask together
        fill = int(crop.mean() * 255)
        crop = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).rotate(style.angle, Image.Resampling.BILINEAR, fillcolor=fill), np.float32) / 255
        alpha = np.asarray(Image.fromarray((alpha * 255).astype(np.uint8)).rotate(style.angle, Image.Resampling.BILINEAR), np.float32) / 255
    gray = _resize(crop, w, h)
    alpha = _resize(alpha, w, h)
    rgb = gray[..., None] * style.tint[None, None, :] * style.gain
    if style.blur:
        sigma = (0.015 * h + 0.35) if style.blur == 1 else (0.04 * h + 0.7)
        rgb = gaussian_filter(rgb, (sigma, sigma, 0), mode="nearest")
        alpha = gaussian_filter(alpha, sigma, mode="constant")
    return np.clip(rgb, 0, 1), np.clip(alpha, 0, 1)


def paste(canvas: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend (h, w, 3) ``rgb`` into ``canvas`` at top-left (x, y), clipped to the canvas."""
    H, W = canvas.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = canvas[y0:y1, x0:x1]
    region[:] = a * rgb[y0 - y:y1 - y, x0 - x:x1 - x] + (1 - a) * region


def occluder(rng: np.random.Generator, box, level: int):
    """An occluding blob (hand, scarf, object) over a fraction of ``box``: ~15 % for partial
    (level 1), ~45 % for heavy (level 2). Returns (rgb, alpha, x, y)."""
    x, y, w, h = box
    frac = rng.uniform(0.08, 0.28) if level == 1 else rng.uniform(0.35, 0.6)
    side = rng.integers(4)  # 0 bottom, 1 top, 2 left, 3 right
    ow, oh = (w, max(1, int(round(h * frac)))) if side < 2 else (max(1, int(round(w * frac))), h)
    ox = x if side != 3 else x + w - ow
    oy = y if side != 0 else y + h - oh
    ow, oh = ow + 2, oh + 2  # overhang so the soft edge still covers the face border
    src = background(BACKGROUNDS[rng.integers(len(BACKGROUNDS))])  # textured object, not a flat tile
    sy, sx = rng.integers(0, src.shape[0] - 8), rng.integers(0, src.shape[1] - 8)
    patch = src[sy:sy + max(8, oh // 2), sx:sx + max(8, ow // 2)]
    rgb = _resize(patch, ow, oh) * rng.uniform(0.5, 1.1, 3).astype(np.float32)
    alpha = np.minimum(ellipse_alpha(ow, oh, soft=0.5) * 3, 1)
    return rgb, alpha, int(ox) - 1, int(oy) - 1


def finish(canvas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise and quantisation -> uint8 HxWx3."""
    noise = rng.normal(0, rng.uniform(0.003, 0.02), canvas.shape).astype(np.float32)
    return np.clip((canvas + noise) * 255 + 0.5, 0, 255).astype(np.uint8)
