"""Objectness / classification losses: elementwise functions, their registry, OHEM selection, normalisation.

- ``functions``: ``bce`` / ``focal`` / ``qfl`` / ``vfl`` -- elementwise losses from logits.
- ``registry``: ``LossSpec`` / ``LOSSES`` / ``get_loss`` / ``describe_losses`` -- one record per loss name.
- ``ohem``: ``ohem_mask`` -- which objectness cells count.
- ``reduce``: ``reduce_loss`` / ``NORM_MODES`` -- the one reduction.
"""

from .functions import bce, focal, qfl, vfl
from .ohem import ohem_mask
from .reduce import NORM_MODES, reduce_loss
from .registry import LOSSES, LossSpec, describe_losses, get_loss, loss_spec

__all__ = [
    "LOSSES",
    "LossSpec",
    "NORM_MODES",
    "bce",
    "describe_losses",
    "focal",
    "get_loss",
    "loss_spec",
    "ohem_mask",
    "qfl",
    "reduce_loss",
    "vfl",
]
