"""The name -> class registry the model-YAML parser consults (besides a few ultralytics classes)."""

from .blocks import ConvReLU, RepConvReLU
from .head import AnchorDetect

MODULES = {"AnchorDetect": AnchorDetect, "ConvReLU": ConvReLU, "RepConvReLU": RepConvReLU}
