"""Anchor fitting: k-means on label sizes, then a genetic refinement (YOLOv5 autoanchor, Jocher et al.,
ultralytics/yolov5 ``utils/autoanchor.py::kmean_anchors``), and writing the fitted anchors into a model YAML.

Fitness (YOLOv5): for label sizes ``wh`` (n, 2) and anchors ``k`` (K, 2), ``x = min(r, 1/r)`` with ``r = wh / k``,
minimum over w and h, ``best = max_k x``; fitness = ``mean(best * [best > 1 / anchor_t])``.

Differences from YOLOv5, on purpose:
- each generation proposes a population of mutants evaluated in one vectorised pass and keeps the best one if it
  improves (YOLOv5: one mutant per generation), with a fixed seed;
- the refinement starts from whichever of (k-means result, input anchors) is fitter, and the input anchors are
  returned unchanged unless the result is strictly fitter: evolving never lowers fitness;
- optional ``min_ratio``: candidates whose adjacent levels are closer than ``min_ratio`` (see
  ``yolo_ext.anchors.adjacent_ratios``) are rejected, to keep the level spacing the face model relies on.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.cluster.vq import kmeans

from ..ops import shape_ratio
from ..utils.files import atomic_write


def fitness_batch(k: np.ndarray, wh: np.ndarray, anchor_t: float, chunk_elems: int = 4_000_000) -> np.ndarray:
    """YOLOv5 anchor fitness of P candidate anchor sets.

    Args:
        k: (P, K, 2) or (K, 2) anchor w,h in pixels.
        wh: (n, 2) label w,h in pixels (n > 0).
        anchor_t: ratio threshold (> 1).
    Returns:
        (P,) float64 fitness (or a scalar for a single (K, 2) set), in [0, 1].
    """
    single = k.ndim == 2
    k = np.asarray(k, np.float32).reshape(-1, *k.shape[-2:])
    wh = np.asarray(wh, np.float32)
    thr = 1.0 / anchor_t
    step = max(1, chunk_elems // max(1, wh.shape[0] * k.shape[1]))
    out = []
    for p in range(0, k.shape[0], step):  # chunks of candidates bound the (P, n, K) temporaries
        metric = shape_ratio(torch.from_numpy(wh), torch.from_numpy(k[p : p + step]))  # (p, K, n)
        best = (1.0 / metric).amax(-2).numpy()  # (p, n): autoanchor's best min(r, 1/r)
        out.append((best * (best > thr)).mean(-1, dtype=np.float64))
    f = np.concatenate(out)
    return f[0] if single else f


def _sort_by_area(k: np.ndarray) -> np.ndarray:
    """(..., K, 2) -> same, each set sorted by ascending area (the smallest anchors go to the finest level)."""
    idx = np.argsort(k.prod(-1), axis=-1, kind="stable")
    return np.take_along_axis(k, idx[..., None], axis=-2)


def _feasible(k: np.ndarray, nl: int, min_ratio: float | None) -> np.ndarray:
    """(P, K, 2) area-sorted sets -> (P,) bool: every level's anchor j is >= min_ratio x the previous level's (w and h)."""
    if not min_ratio or nl < 2:
        return np.ones(k.shape[0], bool)
    lv = k.reshape(k.shape[0], nl, -1, 2)
    return ((lv[:, 1:] / lv[:, :-1]).min(-1) >= min_ratio * (1 - 1e-6)).all((1, 2))


def kmeans_wh(wh: np.ndarray, n: int, seed: int = 0, iters: int = 30) -> np.ndarray | None:
    """k-means of label sizes on whitened (per-axis std) w,h, as YOLOv5. Returns (n, 2) pixels sorted by area, or
    None when k-means cannot produce n distinct centres (fewer distinct sizes than anchors)."""

    if len(np.unique(wh, axis=0)) < n:
        return None
    s = wh.std(0)
    s[s == 0] = 1.0
    k, _ = kmeans(wh / s, n, iter=iters, seed=np.random.default_rng(seed))
    return _sort_by_area(k * s) if len(k) == n else None


def evolve_anchors(wh, anchors, anchor_t: float = 4.0, generations: int = 300, population: int = 16,
                   seed: int = 0, min_ratio: float | None = None, mutation_p: float = 0.9, sigma: float = 0.1):
    """Fit anchors to label sizes: k-means then genetic refinement; never returns a less fit set than ``anchors``.

    Args:
        wh: (n, 2) label w,h in input pixels; labels under 2 px on both sides are dropped (as YOLOv5).
        anchors: (nl, na, 2) current anchors, pixels.
        anchor_t: the assigner's ratio threshold.
        generations, population: refinement budget (generations x population fitness evaluations).
        seed: seed of k-means and of the mutations.
        min_ratio: if set, reject sets whose adjacent levels are closer than this ratio.
        mutation_p, sigma: YOLOv5's mutation probability per value and mutation scale.
    Returns:
        dict: ``anchors`` (nl, na, 2) float pixels rounded to 0.1, ``fitness_before``, ``fitness_after``,
        ``changed`` (False when the input anchors are returned).
    """
    a0 = np.asarray(anchors, np.float64)
    if a0.ndim != 3 or a0.shape[-1] != 2:
        raise ValueError(f"anchors must be (nl, na, 2), got shape {a0.shape}")
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    wh = wh[(wh >= 2.0).any(1)]
    if len(wh) == 0:
        raise ValueError("no label of at least 2 px: cannot fit anchors")
    nl, na, _ = a0.shape
    rng = np.random.default_rng(seed)
    f0 = float(fitness_batch(a0.reshape(-1, 2), wh, anchor_t))
    starts = [_sort_by_area(a0.reshape(-1, 2))]
    km = kmeans_wh(wh, nl * na, seed=seed)
    if km is not None:
        starts.append(km)
    starts = np.stack(starts)
    fs = fitness_batch(starts, wh, anchor_t)
    fs[~_feasible(starts, nl, min_ratio)] = -1.0
    k, f = starts[int(fs.argmax())], float(fs.max())
    for _ in range(generations):
        shape = (population, *k.shape)
        v = np.ones(shape)
        while (v == 1).all((1, 2)).any():  # YOLOv5: redraw until every mutant differs from its parent
            redo = (v == 1).all((1, 2))
            m = (rng.random(shape) < mutation_p) * rng.random((population, 1, 1)) * rng.standard_normal(shape) * sigma
            v[redo] = (m + 1).clip(0.3, 3.0)[redo]
        kg = _sort_by_area((k[None] * v).clip(min=2.0))
        fg = fitness_batch(kg, wh, anchor_t)
        fg[~_feasible(kg, nl, min_ratio)] = -1.0
        j = int(fg.argmax())
        if fg[j] > f:
            k, f = kg[j], float(fg[j])
    k = np.round(k, 1)
    f1 = float(fitness_batch(k, wh, anchor_t))
    ok = _feasible(k[None], nl, min_ratio)[0]
    if not (ok and f1 > f0):
        return {"anchors": a0, "fitness_before": f0, "fitness_after": f0, "changed": False}
    return {"anchors": k.reshape(nl, na, 2), "fitness_before": f0, "fitness_after": f1, "changed": True}


def _anchors_block(anchors: np.ndarray, strides=None) -> str:
    lines = ["anchors: # w,h pairs per level in input pixels (fitted by python -m yolo_ext.anchors --evolve)"]
    for i, lv in enumerate(np.asarray(anchors)):
        vals = ", ".join(f"{v:g}" for v in np.round(lv.reshape(-1), 1))
        tag = f" # P{int(round(math.log2(strides[i])))}/{int(strides[i])}" if strides is not None else ""
        lines.append(f"  - [{vals}]{tag}")
    return "\n".join(lines) + "\n"


def write_model_yaml(src_text: str, anchors, out: str | Path, strides=None) -> Path:
    """Write ``src_text`` (a model YAML) with its top-level ``anchors:`` block replaced, atomically.

    Comments and layout outside the block are kept. The result is re-parsed and must equal the source apart from
    ``anchors`` (else ValueError), so a YAML this cannot edit textually is never written wrong.
    """
    out = Path(out)
    block = _anchors_block(anchors, strides)
    pat = re.compile(r"^anchors:.*\n(?:(?:[ \t]+.*|[ \t]*)\n)*", re.M)  # the key, its indented lines, blank lines
    src = src_text if src_text.endswith("\n") else src_text + "\n"
    if len(pat.findall(src)) != 1:
        raise ValueError(f"{out}: the source model YAML needs exactly one top-level 'anchors:' block")
    new = pat.sub(lambda _: block + "\n", src, count=1)
    d_old, d_new = yaml.safe_load(src), yaml.safe_load(new)
    want = [[float(v) for v in lv] for lv in np.round(np.asarray(anchors, np.float64), 1).reshape(len(anchors), -1)]
    if {k: v for k, v in d_old.items() if k != "anchors"} != {k: v for k, v in d_new.items() if k != "anchors"} or [
        [float(v) for v in lv] for lv in d_new["anchors"]
    ] != want:
        raise ValueError(f"{out}: could not replace the anchors block of the source YAML cleanly")
    return atomic_write(out, new)
