"""A deterministic synthetic WIDER FACE stand-in in the official layout.

Geometry follows WIDER FACE val (Yang et al., CVPR 2016; figures from DESIGN.md "Data"): face
heights at 1024 px p5 6, p10 8, p25 11, p50 20, p75 39, p90 76, p95 124, p99 316; faces per
image p25 1, p50 3, p75 9, p90 24, p99 182, max 709. Face sizes are kept in the pixels of WIDER
evaluated at VGA (the 1024-px figures / :data:`VGA_SCALE`; median ~12 px, a quarter under ~7 px)
whatever the canvas, and face counts scale with the canvas area relative to a 640x480 VGA image.
Faces per image and face size are anti-correlated through a shared per-image latent (crowds of
small faces, portraits of a few large ones); crowds are laid out in depth (small faces high in
the frame, pasted back to front) so mutual occlusion happens and is recorded.

Settings, with WIDER's 1024-px thresholds scaled by 1 / VGA_SCALE to the synthetic pixels
(valid = not invalid and w, h > 0):
    hard:   valid and h > 10 / 1.6 = 6.25 px
    medium: valid and h > 30 / 1.6 = 18.75 px
    easy:   valid and h >= 50 / 1.6 = 31.25 px, blur < 2 (not heavy) and occlusion < 2
so easy is a subset of medium, a subset of hard.
"""
from __future__ import annotations

import functools
import io
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np
from PIL import Image
from scipy.special import ndtr, ndtri

from ..utils.files import atomic_dir
from ..utils.owned import check_output_dir, write_marker
from ..utils.repo import datasets_dir
from .convert import _convert
from .groundtruth import GroundTruth, save_ground_truth
from .synth_render import SKIN_TINTS, FaceStyle, face_patch, finish, occluder, paste, render_background

EVENTS = ("0--Parade", "1--Handshaking", "2--Demonstration", "4--Dancing", "7--Cheering",
          "9--Press_Conference", "12--Group", "20--Family_Group")
VGA_SCALE = 1.6
HARD_MIN_H, MEDIUM_MIN_H, EASY_MIN_H = 10 / VGA_SCALE, 30 / VGA_SCALE, 50 / VGA_SCALE
_H_Q = np.array([0, .05, .10, .25, .50, .75, .90, .95, .99, 1.0])
_H_1024 = np.array([3, 6, 8, 11, 20, 39, 76, 124, 316, 640.0])
_N_Q = np.array([.03, .25, .50, .75, .90, .99, 1.0])  # 3 % of images have no face
_N_IMG = np.array([1, 1, 3, 9, 24, 182, 709.0])
RHO = 0.6  # weight of the per-image latent in a face's size quantile
JPEG_QUALITY = 90
VERSION = 1  # bump when the generator changes: invalidates ensure_default_dataset caches
DEFAULT_TRAIN, DEFAULT_VAL, DEFAULT_SEED, DEFAULT_SIZE = 300, 100, 0, 416
MIN_SIZE = 64  # faces keep WIDER's pixel sizes (up to 0.8 x the height): smaller canvases cannot hold the layout
TOOL = "python -m yolo_ext.widerface synth"  # the marker of our outputs (yolo_ext.utils.owned)


def _face_count(u, area, r):
    """Faces per image from a uniform ``u``: WIDER's quantiles (log-interpolated), scaled by
    canvas area / VGA area, stochastically rounded with ``r`` (uniform); 0 below the 3 % quantile."""
    n_wider = np.expm1(np.interp(u, _N_Q, np.log1p(_N_IMG)))
    n = np.maximum(1, np.floor(n_wider * area / (640 * 480) + r)).astype(np.int64)
    return np.where(u < _N_Q[0], 0, n)


def _image_latent(u):
    """Per-image size latent: crowded images (high ``u``) get small faces."""
    return -ndtri(np.clip((u - _N_Q[0]) / (1 - _N_Q[0]), 1e-4, 1 - 1e-4))


@functools.lru_cache(maxsize=8)
def _latent_table(size: int) -> np.ndarray:
    """Sorted face-level samples of the size latent (fixed internal seed): its empirical CDF maps a
    face's latent to a quantile so the face-size marginal stays WIDER's despite the correlation
    with the face count (crowds weigh more in a face-level distribution)."""
    rng = np.random.default_rng(20160601)
    u = rng.random(20000)
    n = _face_count(u, size * size * rng.uniform(0.6, 1.0, u.size), rng.random(u.size))
    z = RHO * np.repeat(_image_latent(u), n) + np.sqrt(1 - RHO ** 2) * rng.standard_normal(int(n.sum()))
    return np.sort(z)


def sample_layout(rng: np.random.Generator, W: int, H: int, size: int):
    """Face boxes of one image: (n, 4) int64 x, y, w, h sorted back to front (paint order)."""
    u = rng.random()
    n = int(_face_count(u, W * H, rng.random()))
    if n == 0:
        return np.zeros((0, 4), np.int64)
    table = _latent_table(size)
    z = RHO * _image_latent(u) + np.sqrt(1 - RHO ** 2) * rng.standard_normal(n)
    q = (np.searchsorted(table, z) + 0.5) / (len(table) + 1)
    h = np.exp(np.interp(q, _H_Q, np.log(_H_1024 / VGA_SCALE)))
    h = np.clip(np.round(h), 2, int(0.8 * H)).astype(np.int64)
    w = np.maximum(1, np.round(h * rng.uniform(0.72, 0.95, n))).astype(np.int64)
    if n >= 6:  # a crowd in depth: small (far) faces high in the frame
        rank = np.argsort(np.argsort(h + rng.random(n))) / max(n - 1, 1)
        yc = H * np.clip(0.12 + 0.76 * rank + rng.normal(0, 0.06, n), 0, 1)
    else:
        yc = rng.uniform(0, H, n)
    xc = rng.uniform(0, W, n)
    x = np.clip(np.round(xc - w / 2), 0, W - w).astype(np.int64)
    y = np.clip(np.round(yc - h / 2), 0, H - h).astype(np.int64)
    boxes = np.stack([x, y, w, h], 1)
    return boxes[np.argsort(y + h, kind="stable")]


def coverage_by_later(boxes: np.ndarray) -> np.ndarray:
    """(n,) fraction of each box covered by boxes pasted after it (sum of pairwise overlaps, <= 1)."""
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    iw = np.clip(np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]), 0, None)
    ih = np.clip(np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]), 0, None)
    inter = np.triu(iw * ih, k=1).astype(np.float64)  # j > i: pasted later
    area = np.maximum(boxes[:, 2] * boxes[:, 3], 1)
    return np.minimum(inter.sum(1) / area, 1.0)


def sample_attributes(rng: np.random.Generator, boxes: np.ndarray) -> np.ndarray:
    """(n, 6) int64 blur, expression, illumination, invalid, occlusion, pose (WIDER column order)."""
    n, h = len(boxes), boxes[:, 3]
    p_heavy = np.where(h < 8, 0.7, np.where(h < 16, 0.35, 0.12))
    r = rng.random(n)
    blur = np.where(r < p_heavy, 2, np.where(r < p_heavy + 0.35, 1, 0))
    expression = (rng.random(n) < 0.1).astype(np.int64)
    illumination = (rng.random(n) < 0.1).astype(np.int64)
    invalid = (rng.random(n) < 0.03).astype(np.int64)
    occl = rng.choice(3, size=n, p=[0.72, 0.18, 0.10])
    cover = coverage_by_later(boxes)
    occl = np.maximum(occl, np.where(cover > 0.35, 2, np.where(cover > 0.1, 1, 0)))
    invalid = np.where(cover > 0.7, 1, invalid)
    pose = (rng.random(n) < 0.08).astype(np.int64)
    blur = np.where(invalid == 1, 2, blur)
    return np.stack([blur, expression, illumination, invalid, occl, pose], 1).astype(np.int64)


def _style(rng, attrs, distractor=False) -> FaceStyle:
    blur, expression, illumination, _, occlusion, pose = (int(a) for a in attrs)
    gain = rng.choice([rng.uniform(0.3, 0.5), rng.uniform(1.5, 1.9)]) if illumination else rng.uniform(0.8, 1.15)
    return FaceStyle(crop=int(rng.integers(100)), flip=bool(rng.random() < 0.5), tint=SKIN_TINTS[rng.integers(len(SKIN_TINTS))],
                     blur=blur, expression=expression, illumination=illumination, occlusion=occlusion, pose=pose,
                     angle=float(rng.choice([-1, 1]) * rng.uniform(25, 50)), gain=np.float32(gain))


def render_image(rng: np.random.Generator, size: int) -> Tuple[bytes, np.ndarray]:
    """One synthetic image -> (JPEG bytes, (n, 10) int64 annotation rows in WIDER column order)."""
    W = size
    H = int(round(size * rng.uniform(0.6, 1.0) / 2) * 2)
    if rng.random() < 0.15:
        W, H = H, W  # some portrait images
    canvas = render_background(rng, W, H)
    boxes = sample_layout(rng, W, H, size)
    attrs = sample_attributes(rng, boxes)
    for _ in range(rng.poisson(0.5 + 0.1 * len(boxes))):  # non-face LFW crops: hard negatives
        h = int(np.clip(np.exp(rng.uniform(np.log(4), np.log(H / 5))), 3, H - 1))
        w = max(2, int(h * rng.uniform(0.7, 1.0)))
        rgb, alpha = face_patch(_style(rng, [rng.integers(3), 0, 0, 0, 0, 0]), w, h, distractor=True)
        paste(canvas, rgb, alpha, int(rng.integers(0, W - w + 1)), int(rng.integers(0, H - h + 1)))
    for box, att in zip(boxes, attrs):
        st = _style(rng, att)
        rgb, alpha = face_patch(st, int(box[2]), int(box[3]))
        paste(canvas, rgb, alpha, int(box[0]), int(box[1]))
        explicit = att[4] if att[3] == 0 else 2  # invalid faces are also hidden behind an occluder
        if explicit and rng.random() < 0.8:
            paste(canvas, *occluder(rng, box, int(explicit)))
    degenerate = rng.random(len(boxes)) < 0.003  # a few w <= 0 rows, as in the real annotations
    boxes[degenerate, 2] = 0
    buf = io.BytesIO()
    Image.fromarray(finish(canvas, rng)).save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=2, optimize=False)
    return buf.getvalue(), np.concatenate([boxes, attrs], 1)


def settings_masks(rows: np.ndarray):
    """(F, 10) annotation rows -> {setting: (F,) bool}, thresholds in the module docstring."""
    w, h = rows[:, 2], rows[:, 3]
    valid = (rows[:, 7] == 0) & (w > 0) & (h > 0)
    hard = valid & (h > HARD_MIN_H)
    medium = valid & (h > MEDIUM_MIN_H)
    easy = valid & (h >= EASY_MIN_H) & (rows[:, 4] < 2) & (rows[:, 8] < 2)
    return {"easy": easy, "medium": medium, "hard": hard}


def _annotation_text(records) -> str:
    out = []
    for event, name, rows in records:
        out.append(f"{event}/{name}.jpg\n{len(rows)}\n")
        body = rows if len(rows) else np.zeros((1, 10), np.int64)
        out.append("".join(" ".join(str(int(v)) for v in r) + " \n" for r in body))
    return "".join(out)


def _ground_truth(records) -> GroundTruth:
    """Val records -> GroundTruth (face-less images get the official dummy 0 0 0 0 row)."""
    rows = [r if len(r) else np.zeros((1, 10), np.int64) for _, _, r in records]
    counts = np.array([len(r) for r in rows])
    flat = np.concatenate(rows) if rows else np.zeros((0, 10), np.int64)
    real = np.repeat(np.array([len(r) > 0 for _, _, r in records], bool), counts)
    gt = GroundTruth(sorted({e for e, _, _ in records}), [(e, n) for e, n, _ in records],
                     np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), flat[:, :4].astype(np.float64))
    for k, name in enumerate(["blur", "expression", "illumination", "invalid", "occlusion", "pose"]):
        gt.labels[name] = flat[:, 4 + k].astype(np.uint8)
    for s, mask in settings_masks(flat).items():
        gt.evaluated[s] = mask & real
        gt.counts[s] = np.add.reduceat(gt.evaluated[s].astype(np.int64), gt.offsets[:-1]) if len(counts) else np.zeros(0, np.int64)
    return gt


def _generate_split(tmp: Path, split_id: int, split: str, n: int, seed: int, size: int) -> List:
    records = []
    for j in range(n):
        rng = np.random.default_rng([seed, split_id, j])  # per image: independent of n and order
        event = EVENTS[j % len(EVENTS)]
        name = f"{event.split('--')[0]}_{event.split('--')[1]}_{event.split('--')[1]}_{split}_{j}"
        jpeg, rows = render_image(rng, size)
        path = tmp / f"WIDER_{split}" / "images" / event / f"{name}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg)
        records.append((event, name, rows))
        if (j + 1) % 100 == 0 or j + 1 == n:
            print(f"synth {split}: {j + 1}/{n} images", file=sys.stderr, flush=True)
    return sorted(records, key=lambda r: (r[0], int(r[1].rsplit("_", 1)[1])))


def check_synth_args(n_train, n_val, seed, size) -> None:
    """Raise ``ValueError`` naming the argument unless every count is an integer >= 1, ``seed`` >= 0 and ``size`` >=
    :data:`MIN_SIZE` (the values ``--train``, ``--val``, ``--seed``, ``--size`` and a data YAML's ``synth:`` take)."""
    for name, v, lo in (("train", n_train, 1), ("val", n_val, 1), ("seed", seed, 0), ("size", size, MIN_SIZE)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            why = " (the synthetic faces keep WIDER's pixel sizes)" if name == "size" else ""
            raise ValueError(f"--{name} {v!r}: must be an integer >= {lo}{why}")


def synth(out, n_train: int, n_val: int, seed: int, size: int = DEFAULT_SIZE, force: bool = False) -> Path:
    """Write a synthetic WIDER FACE set at ``out`` (official layout, built atomically).

    Creates ``WIDER_{train,val}/images/<event>/<name>.jpg``, ``wider_face_split/
    wider_face_{train,val}_bbx_gt.txt`` and ``eval_tools/ground_truth/wider_{face,easy,medium,
    hard}_val.mat`` (same keys, nesting, classes and storage types as the official files), and the marker file of
    our outputs. Output bytes depend only on the arguments. Returns ``out``.

    Raises:
        ValueError: bad counts, seed or size (:func:`check_synth_args`).
        yolo_ext.utils.owned.OutputDirError: ``out`` is not empty and not a previous ``synth`` output, or it is one
            and ``force`` is not set.
    """
    check_synth_args(n_train, n_val, seed, size)
    out = Path(out).resolve()
    check_output_dir(out, TOOL, force)
    return _synth(out, n_train, n_val, seed, size)


def _synth(out: Path, n_train: int, n_val: int, seed: int, size: int) -> Path:
    """:func:`synth` without the checks (our own caches: :func:`ensure_synth_dataset`)."""
    with atomic_dir(out) as tmp:
        write_marker(tmp, TOOL)
        for split_id, (split, n) in enumerate([("train", n_train), ("val", n_val)]):
            records = _generate_split(tmp, split_id, split, n, seed, size)
            txt = tmp / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_text(_annotation_text(records))
            if split == "val":
                save_ground_truth(_ground_truth(records), tmp / "eval_tools" / "ground_truth")
    return out


def ensure_synth_dataset(n_train: int = DEFAULT_TRAIN, n_val: int = DEFAULT_VAL, seed: int = DEFAULT_SEED,
                         size: int = DEFAULT_SIZE, cache_dir=None) -> Path:
    """Generate (once) a synthetic WIDER set and its YOLO conversion; return the YAML.

    Layout: ``<cache>/widerface-synth-v{VERSION}-{train}-{val}-s{seed}-{size}/{wider,widerface_synth}``.
    Each stage is built in a temp dir and renamed into place; the YAML (written last, by
    ``convert``) marks a complete cache, so an interrupted run is simply redone.
    """

    base = Path(cache_dir) if cache_dir else datasets_dir()
    name = f"widerface-synth-v{VERSION}-{n_train}-{n_val}-s{seed}-{size}"
    root, yolo = base / name / "wider", base / name / "widerface_synth"
    yaml_path = yolo / "widerface_synth.yaml"
    if yaml_path.is_file() and (root / "eval_tools" / "ground_truth" / "wider_face_val.mat").is_file():
        return yaml_path
    check_synth_args(n_train, n_val, seed, size)
    _synth(root.resolve(), n_train, n_val, seed, size)  # our own cache folders: rebuilt without the output checks
    return _convert(root.resolve(), yolo.resolve(), 0, False, ("train", "val"), False)


def ensure_default_dataset(cache_dir=None) -> Path:
    """The built-in default (``--data synth``): see :func:`ensure_synth_dataset` for the defaults."""
    return ensure_synth_dataset(cache_dir=cache_dir)
