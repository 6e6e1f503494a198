"""Deprecated location of the model classes: use ``from yolo_ext import AnchorYOLO`` (or ``yolo_ext.engine``).

Kept for one release so that ``from yolo_ext.model import AnchorYOLO`` and checkpoints pickled before the redesign
(whose model class is ``yolo_ext.model.AnchorDetectionModel``) keep loading.
"""

import warnings

from .engine.model import AnchorDetectionModel
from .engine.yolo import AnchorYOLO

warnings.warn("yolo_ext.model is deprecated; import AnchorYOLO / AnchorDetectionModel from yolo_ext",
              DeprecationWarning, stacklevel=2)

__all__ = ["AnchorDetectionModel", "AnchorYOLO"]
