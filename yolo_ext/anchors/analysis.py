"""Anchor analysis: best possible recall of a model's anchors on a dataset, level spacing, and anchor fitting.

Metric (YOLOv5 autoanchor, Jocher et al., ultralytics/yolov5 ``utils/autoanchor.py::check_anchors``):
label sizes ``wh`` (n, 2) in input pixels against anchors ``k`` (K, 2) in input pixels:
``r = wh / k``; ``x = min(r, 1/r)`` minimised over w and h, (n, K); ``best = max_k x``;
**BPR** (best possible recall) = ``mean(best > 1 / anchor_t)``: the share of labels that at least one anchor can
be assigned to by the ratio test; **AAT** (anchors above threshold) = mean number of anchors per label passing it.

Label sizes: each image's normalised labels are scaled so its longest side is ``imgsz`` (letterbox at training
size), then, as YOLOv5 does to mimic scale augmentation, by one random factor per image in ``1 +- jitter``
(default 0.1, fixed seed; ``jitter=0`` gives the exact letterboxed sizes).

Level spacing: ``adjacent_ratios`` is, for each pair of adjacent levels and each anchor index j,
``min(w[l+1, j] / w[l, j], h[l+1, j] / h[l, j])``. The face model wants every ratio >= ``anchor_t``, so that the
ratio test matches a label on at most two adjacent levels; a YAML that violates it gets a warning.

The same check runs at training start through ``yolo_ext.engine.callbacks.anchor_check`` (warns below BPR 0.98; never edits anchors).
"""

from __future__ import annotations

import numpy as np
import torch

from ..ops import shape_ratio

BPR_WARN = 0.98  # YOLOv5's threshold for recommending new anchors


def label_wh(labels, imgsz: int, jitter: float = 0.1, seed: int = 0) -> np.ndarray:
    """Label sizes in input pixels from ultralytics dataset labels.

    Args:
        labels: list of dicts with ``bboxes`` (m, 4) normalised xywh and ``shape`` (h, w) in pixels.
        imgsz: training size (longest image side after letterbox), pixels.
        jitter: per-image random scale in ``[1 - jitter, 1 + jitter]`` (0 disables).
        seed: seed of that random scale.
    Returns:
        (n, 2) float64 w,h in pixels, n = total number of labels.
    """
    if not labels:
        return np.zeros((0, 2))
    shapes = np.array([lb["shape"] for lb in labels], np.float64)  # (N, 2) h, w
    if shapes.ndim != 2 or shapes.shape[1] != 2 or (shapes <= 0).any():
        raise ValueError(f"dataset labels need a positive 'shape' (h, w) per image, got e.g. {labels[0].get('shape')!r}")
    counts = np.array([len(lb["bboxes"]) for lb in labels])
    scale = imgsz / shapes.max(1, keepdims=True) * shapes[:, ::-1]  # (N, 2) px per unit of normalised w, h
    if jitter:
        scale = scale * np.random.default_rng(seed).uniform(1 - jitter, 1 + jitter, (len(labels), 1))
    boxes = np.concatenate([np.asarray(lb["bboxes"], np.float64).reshape(-1, 4) for lb in labels])
    return boxes[:, 2:4] * np.repeat(scale, counts, axis=0)


def anchors_of(model_or_anchors) -> np.ndarray:
    """(nl, na, 2) anchors in pixels from a model (possibly DDP-wrapped), an ``AnchorDetect`` head, or an array."""
    m = getattr(model_or_anchors, "module", model_or_anchors)  # DDP / DataParallel
    if isinstance(m, torch.nn.Module):
        head = m.model[-1] if hasattr(m, "model") and isinstance(m.model, torch.nn.Sequential) else m
        if not hasattr(head, "anchor_px"):
            raise ValueError(f"{type(m).__name__} has no AnchorDetect head (anchor_px): not an anchor-based model")
        return head.anchor_px.detach().cpu().double().numpy()
    a = np.asarray(model_or_anchors.cpu() if torch.is_tensor(model_or_anchors) else model_or_anchors, np.float64)
    if a.ndim != 3 or a.shape[-1] != 2 or (a <= 0).any():
        raise ValueError(f"anchors must be positive with shape (nl, na, 2), got shape {a.shape}")
    return a


def adjacent_ratios(anchors) -> np.ndarray:
    """(nl, na, 2) anchors -> (nl - 1, na): ``min(w[l+1, j] / w[l, j], h[l+1, j] / h[l, j])``."""
    a = np.asarray(anchors, np.float64)
    return (a[1:] / a[:-1]).min(-1)


def metrics(wh: np.ndarray, anchors) -> dict:
    """Ratio metric of (nl, na, 2) anchors (pixels) on (n, 2) label sizes (pixels); K = nl * na.

    Returns a dict: ``best`` (n,) best ratio per label, ``x`` (n, K) ratio per label and anchor."""
    k = torch.from_numpy(np.asarray(anchors, np.float64).reshape(-1, 2))
    x = (1.0 / shape_ratio(torch.from_numpy(np.asarray(wh, np.float64).reshape(-1, 2)), k)).T.numpy()  # (n, K)
    return {"x": x, "best": x.max(1) if len(x) else np.zeros(0)}


def check_anchors(labels_or_wh, model_or_anchors, anchor_t: float = 4.0, imgsz: int = 640,
                  jitter: float = 0.1, seed: int = 0) -> dict:
    """Anchor check of a model against a dataset.

    Args:
        labels_or_wh: ultralytics dataset labels (list of dicts, see ``label_wh``) or an (n, 2) array of label w,h
            in input pixels (used as is: no scaling, no jitter).
        model_or_anchors: model / head / (nl, na, 2) anchors in input pixels.
        anchor_t: ratio threshold of the assigner (> 1).
        imgsz: training size, pixels (for labels given as dicts).
        jitter, seed: YOLOv5's per-image random scale, see ``label_wh``.
    Returns:
        dict: ``bpr``, ``aat``, ``fitness`` (floats), ``n`` (labels), ``anchors`` (nl, na, 2), ``ratios``
        (nl - 1, na), ``warnings`` (list of str; empty when all is well).
    """
    if not float(anchor_t) > 1:
        raise ValueError(f"anchor_t must be > 1, got {anchor_t!r}")
    a = anchors_of(model_or_anchors)
    if torch.is_tensor(labels_or_wh):
        labels_or_wh = labels_or_wh.detach().cpu().numpy()
    wh = labels_or_wh if isinstance(labels_or_wh, np.ndarray) else label_wh(labels_or_wh, imgsz, jitter, seed)
    wh = np.asarray(wh, np.float64).reshape(-1, 2)
    thr = 1.0 / anchor_t
    m = metrics(wh, a)
    bpr = float((m["best"] > thr).mean()) if len(wh) else float("nan")
    aat = float((m["x"] > thr).sum(1).mean()) if len(wh) else float("nan")
    fit = float((m["best"] * (m["best"] > thr)).mean()) if len(wh) else float("nan")
    ratios = adjacent_ratios(a)
    warnings = []
    if not len(wh):
        warnings.append("no labels: anchors not checked")
    elif bpr < BPR_WARN:
        warnings.append(
            f"best possible recall {bpr:.4f} < {BPR_WARN} at anchor_t={anchor_t:g}, imgsz={imgsz}: "
            f"{int(round((1 - bpr) * len(wh)))} of {len(wh)} labels match no anchor; consider "
            f"`python -m yolo_ext.anchors --evolve` or another anchor_t"
        )
    bad = np.argwhere(ratios < anchor_t * (1 - 1e-6))
    if len(bad):
        pairs = ", ".join(f"P{l + 3}->P{l + 4} anchor {j}: {ratios[l, j]:.2f}" for l, j in bad)
        warnings.append(
            f"adjacent anchor levels closer than anchor_t={anchor_t:g} ({pairs}); each level's anchor should be "
            f">= anchor_t x the previous level's, so a label matches at most two adjacent levels"
        )
    return {"bpr": bpr, "aat": aat, "fitness": fit, "n": len(wh), "anchors": a, "ratios": ratios, "warnings": warnings}


def format_report(res: dict, anchor_t: float, prefix: str = "anchors: ") -> str:
    """One-paragraph human summary of a ``check_anchors`` result."""
    a = res["anchors"]
    lv = "  ".join(f"P{i + 3}[" + ", ".join(f"{w:g}x{h:g}" for w, h in np.round(x, 1)) + "]" for i, x in enumerate(a))
    rat = "  ".join(f"P{i + 3}->P{i + 4}: " + ", ".join(f"{v:.2f}" for v in r) for i, r in enumerate(res["ratios"]))
    s = (f"{prefix}{res['n']} labels, anchor_t={anchor_t:g}: best possible recall {res['bpr']:.4f}, "
         f"anchors above threshold {res['aat']:.2f}, fitness {res['fitness']:.4f}\n"
         f"{prefix}{lv}\n{prefix}level ratios {rat or '(single level)'}")
    return s + "".join(f"\n{prefix}WARNING {w}" for w in res["warnings"])
