"""Neural-network building blocks usable from model YAMLs.

``MODULES`` is the visible name -> class registry the YAML parser consults (besides a few ultralytics classes).
"""

from .head import AnchorDetect

MODULES = {"AnchorDetect": AnchorDetect}

__all__ = ["MODULES", "AnchorDetect"]
