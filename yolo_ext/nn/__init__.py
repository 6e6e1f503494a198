"""Neural-network building blocks usable from model YAMLs.

``MODULES`` is the visible name -> class registry the YAML parser consults (besides a few ultralytics classes).
"""

from .blocks import ConvReLU, RepConvReLU
from .head import AnchorDetect

MODULES = {"AnchorDetect": AnchorDetect, "ConvReLU": ConvReLU, "RepConvReLU": RepConvReLU}

__all__ = ["MODULES", "AnchorDetect", "ConvReLU", "RepConvReLU"]
