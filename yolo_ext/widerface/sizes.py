"""WIDER FACE AP and recall by face height: which face sizes a detector finds (the small-face view).

The official protocol (``evaluation.py``) scores a whole setting. A claim such as "this loss helps small faces"
needs the same numbers per face-size bucket. For bucket ``[lo, hi)`` of ground-truth box height ``h`` (pixels of
the original image, as stored in the ground truth), within one setting (``hard`` by default: every valid face):

- the evaluated faces are the setting's faces whose height lies in the bucket; the setting's other faces are treated
  like the faces outside its gt_list (a detection matching one is dropped: neither TP nor FP), exactly as the official
  code treats faces of a harder setting;
- a detection that matches no face at IoU >= ``iou`` counts as a false positive only if its own height lies in the
  bucket, and is dropped otherwise (COCO's rule for area ranges, Lin et al. 2014, applied to height), so a bucket's
  precision is not charged with another size's false positives;
- everything else (score normalisation over the split, matching by max IoU with the +1 convention, the 1000
  thresholds, VOC AP) is the official protocol, computed by the same functions.

The first bucket is open below (``h < edges[0]``, degenerate boxes included) and the last open above. With no
edges (a single bucket) the result equals the official AP of the setting exactly.
``recall`` is the recall at the lowest threshold (every detection counted): the share of the bucket's faces found.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Union

import numpy as np

from .evaluation import _xyxy, best_faces, counts_at_thresholds, normalize_scores, threshold_start, voc_ap
from .groundtruth import GroundTruth, load_ground_truth
from .predictions import PredMapping, from_mapping, read_prediction_dir, sort_by_score, warn_missing

# face height buckets < 16, 16-32, 32-64, >= 64 px. The official hard gt_list holds no face below 9 px (val: 8,111
# of its 31,958 faces are 9-15 px), so a finer bucket below 16 px would be empty on real WIDER FACE.
DEFAULT_EDGES = (16.0, 32.0, 64.0)


@dataclass
class SizeBucket:
    """One face-height bucket ``[lo, hi)`` of one setting: ``faces`` evaluated faces, ``ap``, ``recall`` at the
    lowest threshold, and the (1000,) ``precision`` / ``recall_curve`` at the official thresholds."""

    lo: float
    hi: float
    faces: int
    ap: float
    recall: float
    precision: np.ndarray
    recall_curve: np.ndarray

    @property
    def label(self) -> str:
        if np.isinf(self.lo) and np.isinf(self.hi):
            return "all"
        if np.isinf(self.lo):
            return f"< {self.hi:g}"
        if np.isinf(self.hi):
            return f">= {self.lo:g}"
        return f"{self.lo:g}-{self.hi:g}"

    def as_dict(self) -> dict:
        return {"bucket": self.label, "lo": None if np.isinf(self.lo) else self.lo, "hi": None if np.isinf(self.hi) else self.hi,
                "faces": self.faces, "ap": self.ap, "recall": self.recall}


def check_edges(edges: Sequence[float]) -> List[float]:
    """Bucket edges: finite, > 0, strictly increasing. Raises ValueError naming the offending value."""
    out = [float(e) for e in edges]
    for i, e in enumerate(out):
        if not np.isfinite(e) or e <= 0:
            raise ValueError(f"face-height bucket edge {edges[i]!r}: must be a finite number > 0")
        if i and e <= out[i - 1]:
            raise ValueError(f"face-height bucket edges {list(edges)}: must be strictly increasing")
    return out


def _bucket(best, det_h, k0, gt: GroundTruth, setting: str, lo: float, hi: float) -> SizeBucket:
    face_h = gt.boxes[:, 3]
    in_bucket = (face_h >= lo) & (face_h < hi)
    evaluated = gt.evaluated[setting] & in_bucket
    faces = int(evaluated.sum())
    out_of_range = (best < 0) & ((det_h < lo) | (det_h >= hi))  # unmatched and not this bucket's height
    _, _, precision, recall = counts_at_thresholds(best, k0, evaluated, faces, drop=out_of_range)
    ap = voc_ap(recall, precision) if faces else float("nan")
    return SizeBucket(lo, hi, faces, ap, float(recall[-1]) if faces else float("nan"), precision, recall)


def size_buckets_from_detections(dets: np.ndarray, counts: np.ndarray, gt: GroundTruth,
                                 edges: Sequence[float] = DEFAULT_EDGES, setting: str = "hard",
                                 iou: float = 0.5) -> List[SizeBucket]:
    """Per-height-bucket AP/recall. dets: (D, 5) ``x y w h score`` in ground-truth image order, counts: (I,)."""
    if setting not in gt.evaluated:
        raise ValueError(f"setting {setting!r}: the ground truth has {sorted(gt.evaluated)}")
    cuts = [-float("inf"), *check_edges(edges), float("inf")]
    dets, det_img = sort_by_score(np.asarray(dets, dtype=np.float64).reshape(-1, 5), counts)
    scores = normalize_scores(dets[:, 4])
    live = gt.num_faces_per_image[det_img] > 0  # images without ground-truth boxes are skipped (official)
    dets, det_img, scores = dets[live], det_img[live], scores[live]
    best = best_faces(_xyxy(dets[:, :4]), det_img, gt, iou)
    k0 = threshold_start(scores)
    return [_bucket(best, dets[:, 3], k0, gt, setting, lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:])]


def size_buckets(pred: Union[str, Path, PredMapping], gt_dir: Union[str, Path, GroundTruth],
                 edges: Sequence[float] = DEFAULT_EDGES, setting: str = "hard", iou: float = 0.5) -> List[SizeBucket]:
    """:func:`size_buckets_from_detections` of a prediction directory (official layout) or mapping, like
    :func:`yolo_ext.widerface.evaluate`."""
    gt = gt_dir if isinstance(gt_dir, GroundTruth) else load_ground_truth(gt_dir)
    if isinstance(pred, (str, Path)):
        dets, counts, n_missing = read_prediction_dir(pred, gt)
    else:
        dets, counts, n_missing = from_mapping(pred, gt)
    warn_missing(n_missing, len(gt.images), pred if isinstance(pred, (str, Path)) else "the prediction mapping")
    return size_buckets_from_detections(dets, counts, gt, edges, setting, iou)


def format_buckets(buckets: Sequence[SizeBucket], setting: str = "hard") -> str:
    """A text table: bucket, faces, AP, recall."""
    rows = [f"{'face height':>12} {'faces':>7} {setting + ' AP':>9} {'recall':>8}"]
    rows += [f"{b.label + ' px':>12} {b.faces:>7d} {b.ap:>9.4f} {b.recall:>8.4f}" for b in buckets]
    return "\n".join(rows)


__all__ = ["DEFAULT_EDGES", "SizeBucket", "check_edges", "size_buckets", "size_buckets_from_detections",
           "format_buckets"]
