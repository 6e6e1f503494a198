"""The ultralytics integration: the anchor model, its trainer / validator / front ends, trainer callbacks, the WIDER
FACE evaluation of a trained model and export checks."""

from .model import AnchorDetectionModel, InferenceYOLO
from .trainer import AnchorTrainer
from .validator import AnchorValidator
from .yolo import AnchorYOLO

__all__ = ["AnchorDetectionModel", "AnchorTrainer", "AnchorValidator", "AnchorYOLO", "InferenceYOLO"]
