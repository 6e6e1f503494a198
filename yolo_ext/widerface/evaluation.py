"""The official WIDER FACE evaluation (MATLAB ``eval_tools``), vectorised over the whole split.

Protocol (Yang et al., CVPR 2016; official ``wider_eval.m``, ``norm_score.m``, ``evaluation.m``,
``boxoverlap.m``, ``VOCap.m``), reproduced exactly:

1. Detections of each image are sorted by score, highest first (stable).
2. Scores are min-max normalised over all detections of the split. The official code starts its
   running max/min at ``realmin('single')`` / ``realmax('single')``; we do the same, so a split
   whose scores are all <= 0 normalises like MATLAB does. Deviation: when every score is equal
   MATLAB divides 0 by 0 (NaN scores, AP 0); we set every normalised score to 1 instead, i.e.
   every detection counts at every threshold.
3. Boxes are ``x1, y1, x2 = x + w, y2 = y + h``; IoU uses the +1 pixel convention
   (``area = (x2 - x1 + 1) * (y2 - y1 + 1)``, overlap 0 where the intersection width or height
   is <= 0).
4. Per image, detection h (in score order) takes the face of maximal IoU (first index on ties).
   IoU >= threshold with a face outside the setting's gt_list: the detection is dropped (neither
   TP nor FP); with an evaluated face: a TP if that face was not matched yet, else an FP.
   Because a face's state depends only on the detections that pick it, "TP" is exactly "first
   detection in score order that picks this evaluated face", which is what we compute for all
   images at once (unique first occurrences over the global detection order).
5. Thresholds t_k = 1 - k/1000, k = 1..1000; per image the detections with score >= t_k are
   counted (the official ``find(score >= t, 1, 'last')`` on a sorted list), summed over images.
   Images whose ground-truth box list is empty contribute no detections.
   precision_k = TP_k / proposals_k (NaN where no detection passes, as in MATLAB),
   recall_k = TP_k / count_face, count_face = sum of len(gt_list) over ALL images.
6. AP (VOC, ``VOCap.m``): sentinels (0, 0) and (1, 0), precision envelope from the right with a
   NaN-ignoring max (MATLAB ``max`` ignores NaN), sum of delta-recall times precision.
   The NaN points sit at recall 0 (no detection passes yet), so they never enter the sum.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np

from .groundtruth import SETTINGS, GroundTruth
from .predictions import sort_by_score

THRESH_NUM = 1000
# official: thresh = 1 - t / thresh_num, t = 1..1000 (same float64 arithmetic)
THRESHOLDS = 1.0 - np.arange(1, THRESH_NUM + 1, dtype=np.float64) / THRESH_NUM
_FLT_MIN = float(np.finfo(np.float32).tiny)  # MATLAB realmin('single')
_FLT_MAX = float(np.finfo(np.float32).max)  # MATLAB realmax('single')
_PAIR_CHUNK = 4_000_000  # (detection, face) pairs per IoU block: bounds peak memory (~200 MB)


@dataclass
class PRCurve:
    """One setting's curve at the 1000 official thresholds (index k-1 holds t_k = 1 - k/1000).

    precision, recall: (1000,) float64 (precision NaN where no detection passes t_k);
    thresholds: (1000,); tp, proposals: (1000,) int64 summed counts; count_face: int; ap: float.
    """

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    tp: np.ndarray
    proposals: np.ndarray
    count_face: int
    ap: float


class WiderEvalResult(dict):
    """``{"easy": ap, "medium": ap, "hard": ap}`` (plain floats, JSON-serialisable) plus
    ``.pr``: ``{setting: PRCurve}`` and ``.n_missing``: images without predictions."""

    def __init__(self, aps: Dict[str, float], pr: Dict[str, PRCurve], n_missing: int = 0):
        super().__init__(aps)
        self.pr = pr
        self.n_missing = n_missing


def normalize_scores(scores: np.ndarray) -> np.ndarray:
    """Official ``norm_score.m``: (s - min) / (max - min) over the split, see module docstring."""
    if scores.size == 0:
        return scores.astype(np.float64)
    lo = min(_FLT_MAX, float(scores.min()))
    hi = max(_FLT_MIN, float(scores.max()))
    if hi == lo:
        return np.ones_like(scores, dtype=np.float64)
    return (scores - lo) / (hi - lo)


def _xyxy(b: np.ndarray) -> np.ndarray:
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def _iou_pairs(d: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Row-wise IoU, +1 convention, of (P, 4) xyxy detections ``d`` and faces ``g`` -> (P,)."""
    w = np.minimum(g[:, 2], d[:, 2]) - np.maximum(g[:, 0], d[:, 0]) + 1
    h = np.minimum(g[:, 3], d[:, 3]) - np.maximum(g[:, 1], d[:, 1]) + 1
    inter = w * h
    ga = (g[:, 2] - g[:, 0] + 1) * (g[:, 3] - g[:, 1] + 1)
    da = (d[:, 2] - d[:, 0] + 1) * (d[:, 3] - d[:, 1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        o = inter / (ga + da - inter)
    o[(w <= 0) | (h <= 0)] = 0.0
    return o


def best_faces(det_xyxy: np.ndarray, det_img: np.ndarray, gt: GroundTruth, iou: float) -> np.ndarray:
    """For every detection, the global index of its max-IoU face if that IoU >= ``iou``, else -1.

    det_xyxy: (D, 4) boxes; det_img: (D,) image index (non-decreasing). All (detection, face)
    pairs of the same image are formed in blocks of detections; ties keep the lowest face index.
    """
    m = gt.num_faces_per_image[det_img]  # faces each detection is compared with
    face_xyxy = _xyxy(gt.boxes)
    best = np.full(len(det_img), -1, dtype=np.int64)
    ends = np.cumsum(m)
    start = 0
    while start < len(det_img):
        base = ends[start] - m[start]
        stop = max(int(np.searchsorted(ends, base + _PAIR_CHUNK, side="right")), start + 1)
        best[start:stop] = _best_block(det_xyxy, det_img, m, face_xyxy, gt.offsets, start, stop, iou)
        start = stop
    return best


def _best_block(det_xyxy, det_img, m, face_xyxy, offsets, start, stop, iou):
    """best_faces for detections start:stop (a block of at most ~_PAIR_CHUNK pairs)."""
    mb = m[start:stop]
    pair_det = np.repeat(np.arange(start, stop), mb)
    first = np.cumsum(mb) - mb  # position of each detection's first pair
    local = np.arange(len(pair_det)) - np.repeat(first, mb)
    pair_face = offsets[det_img[pair_det]] + local
    o = _iou_pairs(det_xyxy[pair_det], face_xyxy[pair_face])
    keep = o >= iou
    cd, cf, co = pair_det[keep], pair_face[keep], o[keep]
    out = np.full(stop - start, -1, dtype=np.int64)
    if cd.size:
        order = np.lexsort((cf, -co, cd))  # per detection: highest IoU, then lowest face index
        cd, cf = cd[order], cf[order]
        head = np.ones(cd.size, dtype=bool)
        head[1:] = cd[1:] != cd[:-1]
        out[cd[head] - start] = cf[head]
    return out


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Official ``VOCap.m``: VOC AP with sentinels and a NaN-ignoring right-to-left envelope."""
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.fmax.accumulate(mpre[::-1])[::-1]
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def threshold_start(scores: np.ndarray) -> np.ndarray:
    """(D,) normalised scores -> first threshold index k0 (0-based) with score >= t_k.

    A detection counts at thresholds k0..999 (thresholds decrease with k); 1000 = never.
    """
    n_pass = np.searchsorted(THRESHOLDS[::-1], scores, side="right")  # #{k: t_k <= s}
    return THRESH_NUM - n_pass


def counts_at_thresholds(best, k0, evaluated: np.ndarray, count_face: int, drop=None) -> tuple:
    """(tps, proposals, precision, recall) at the 1000 thresholds. ``evaluated``: (F,) faces that count; a detection
    matching another face is dropped, and so is one where the optional (D,) ``drop`` mask is set."""
    hit = best >= 0
    hit_eval = np.zeros_like(hit)
    hit_eval[hit] = evaluated[best[hit]]
    dropped = hit & ~hit_eval
    if drop is not None:
        dropped |= drop
    tp = np.zeros_like(hit)
    cand = np.flatnonzero(hit_eval)
    _, first = np.unique(best[cand], return_index=True)  # first detection picking each face
    tp[cand[first]] = True
    proposals = np.bincount(k0[~dropped], minlength=THRESH_NUM + 1)[:THRESH_NUM].cumsum()
    tps = np.bincount(k0[tp], minlength=THRESH_NUM + 1)[:THRESH_NUM].cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tps / proposals
        recall = tps / count_face if count_face else np.zeros(THRESH_NUM)
    return tps, proposals, precision, recall


def setting_curve(best, det_img, k0, gt: GroundTruth, setting: str) -> PRCurve:
    """Counts and AP of one setting from the setting-independent matching ``best`` (D,)."""
    count_face = int(gt.counts[setting].sum())
    tps, proposals, precision, recall = counts_at_thresholds(best, k0, gt.evaluated[setting], count_face)
    return PRCurve(precision, recall, THRESHOLDS.copy(), tps, proposals, count_face, voc_ap(recall, precision))


def evaluate_detections(dets: np.ndarray, counts: np.ndarray, gt: GroundTruth, iou: float = 0.5,
                        settings=SETTINGS) -> Dict[str, PRCurve]:
    """Core evaluation. dets: (D, 5) ``x y w h score`` in gt image order, counts: (I,) per image."""

    dets, det_img = sort_by_score(np.asarray(dets, dtype=np.float64).reshape(-1, 5), counts)
    scores = normalize_scores(dets[:, 4])
    live = gt.num_faces_per_image[det_img] > 0  # isempty(gt_bbx): the image is skipped
    dets, det_img, scores = dets[live], det_img[live], scores[live]
    best = best_faces(_xyxy(dets[:, :4]), det_img, gt, iou)
    k0 = threshold_start(scores)
    return {s: setting_curve(best, det_img, k0, gt, s) for s in settings}
