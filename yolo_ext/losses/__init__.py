"""Objectness / classification losses: elementwise functions, OHEM selection, normalisation.

- ``functions``: ``LOSSES`` / ``PARAMS`` / ``get_loss`` -- elementwise losses from logits.
- ``ohem``: ``ohem_mask`` -- which objectness cells count.
- ``reduce``: ``reduce_loss`` / ``NORM_MODES`` / ``DEFAULT_NORM`` -- the one reduction.
"""

from .functions import LOSSES, PARAMS, bce, focal, get_loss, qfl, vfl
from .ohem import ohem_mask
from .reduce import DEFAULT_NORM, NORM_MODES, reduce_loss


def describe_losses() -> str:
    """One line per registered loss: name, default normalisation, parameters with defaults."""
    width = max(map(len, LOSSES))
    return "\n".join(f"{n:<{width}}  norm={DEFAULT_NORM[n]:<4}  " + ", ".join(f"{k}={v}" for k, v in PARAMS[n].items())
                     for n in LOSSES)

__all__ = [
    "LOSSES",
    "PARAMS",
    "DEFAULT_NORM",
    "NORM_MODES",
    "bce",
    "focal",
    "qfl",
    "vfl",
    "get_loss",
    "ohem_mask",
    "reduce_loss",
    "describe_losses",
]
