"""Neural-network building blocks usable from model YAMLs, the ``AnchorDetect`` head and the YAML parser.

``MODULES`` is the visible name -> class registry the YAML parser consults (besides a few ultralytics classes).
"""

from .blocks import ConvReLU, RepConvReLU
from .head import AnchorDetect
from .registry import MODULES

__all__ = ["MODULES", "AnchorDetect", "ConvReLU", "RepConvReLU"]
