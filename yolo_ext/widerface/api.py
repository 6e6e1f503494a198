"""Public entry point of the WIDER FACE evaluation: predictions (directory or mapping) -> APs."""
from __future__ import annotations

from pathlib import Path
from typing import Union

from .evaluation import WiderEvalResult, evaluate_detections
from .groundtruth import SETTINGS, GroundTruth, load_ground_truth
from .predictions import PredMapping, from_mapping, read_prediction_dir, warn_missing


def evaluate(pred: Union[str, Path, PredMapping], gt_dir: Union[str, Path, GroundTruth],
             iou: float = 0.5) -> WiderEvalResult:
    """Official WIDER FACE evaluation of the val split.

    Args:
        pred: a directory in the official layout (``<event>/<image>.txt``) or an in-memory
            mapping ``{(event, image_name): (n, 5) array x, y, w, h, score}`` (pixels; any order).
        gt_dir: the ``eval_tools/ground_truth`` directory, or a loaded :class:`GroundTruth`.
        iou: IoU threshold (official: 0.5).

    Returns:
        A dict ``{"easy": AP, "medium": AP, "hard": AP}`` of floats with extra attributes
        ``.pr[setting]`` (:class:`PRCurve`: precision, recall, thresholds, tp, proposals,
        count_face, ap at the 1000 official thresholds) and ``.n_missing``.
        Images without predictions raise one ``UserWarning`` with their count.

    Raises:
        ValueError: ``iou`` outside (0, 1); a prediction that is not finite or beyond +-1e6 (``PredictionFormatError``
            naming the file and line for a directory).
        FileNotFoundError: a directory holding no prediction file of any ground-truth image.
    """
    if isinstance(iou, bool) or not isinstance(iou, (int, float)) or not 0 < iou < 1:
        raise ValueError(f"--iou {iou!r}: the IoU threshold must be a number in (0, 1) (official: 0.5)")
    gt = gt_dir if isinstance(gt_dir, GroundTruth) else load_ground_truth(gt_dir)
    if isinstance(pred, (str, Path)):
        dets, counts, n_missing = read_prediction_dir(pred, gt)
        source = str(pred)
    else:
        dets, counts, n_missing = from_mapping(pred, gt)
        source = "the prediction mapping"
    warn_missing(n_missing, len(gt.images), source)
    curves = evaluate_detections(dets, counts, gt, iou=iou, settings=tuple(gt.evaluated) or SETTINGS)
    return WiderEvalResult({s: c.ap for s, c in curves.items()}, curves, n_missing)
