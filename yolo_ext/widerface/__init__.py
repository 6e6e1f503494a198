"""WIDER FACE tools: the official evaluation (vectorised), dataset conversion, synthetic stand-in.

CLI: ``python -m yolo_ext.widerface {evaluate,convert,synth} --help``.
"""
from .api import evaluate
from .evaluation import PRCurve, WiderEvalResult
from .groundtruth import GroundTruth, load_ground_truth
from .predictions import PredictionFormatError, write_predictions

__all__ = ["evaluate", "PRCurve", "WiderEvalResult", "GroundTruth", "load_ground_truth",
           "PredictionFormatError", "write_predictions"]
