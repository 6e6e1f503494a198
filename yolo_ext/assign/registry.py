"""Names -> assigner components, their hyperparameters, and the spec parser."""

from __future__ import annotations

from typing import Dict

from .dedup import DedupModifier
from .ignore import IgnoreModifier
from .pipeline import Assigner
from .radius import RadiusAssigner
from .recover import RecoverModifier
from .yolov5 import DistanceAssigner, YOLOv5Assigner

# The visible name -> class map. Bases come first, then modifiers in application order.
ASSIGNERS: Dict[str, type] = {
    "yolov5": YOLOv5Assigner,
    "distance": DistanceAssigner,
    "radius": RadiusAssigner,
    "recover": RecoverModifier,
    "dedup": DedupModifier,
    "ignore": IgnoreModifier,
}

MODIFIER_ORDER = ("recover", "dedup", "ignore")
DEFAULT_BASE = "yolov5"
RESERVED = ("list",)  # `train.py --assigner list` prints describe_assigners()


def _collect_params() -> Dict[str, object]:
    """Union of every class's PARAMS; a name shared by several classes must share its default."""
    out: Dict[str, object] = {}
    for name, cls in ASSIGNERS.items():
        for key, default in cls.PARAMS.items():
            if key in out and out[key] != default:
                raise RuntimeError(f"assigner parameter {key!r} of {name!r} has default {default!r}, elsewhere {out[key]!r}")
            out[key] = default
    return out


ASSIGNER_PARAMS: Dict[str, object] = _collect_params()


def name_of(component) -> str:
    """Registered name of a component instance."""
    return next(n for n, cls in ASSIGNERS.items() if type(component) is cls)


def _parse(spec: str):
    """Split a spec into (base name, set of modifier names), with clear errors."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"assigner spec must be a non-empty string like 'radius+ignore', got {spec!r}")
    names = [n.strip() for n in spec.split("+")]
    valid = ", ".join(ASSIGNERS)
    for n in names:
        if n in RESERVED:
            raise ValueError(f"'{n}' is reserved (it lists the assigners), not a strategy; valid names: {valid}")
        if n not in ASSIGNERS:
            raise ValueError(f"unknown assigner {n!r} in spec {spec!r}; valid names: {valid}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"assigner spec {spec!r} repeats {dup}")
    bases = [n for n in names if ASSIGNERS[n].KIND == "base"]
    if len(bases) > 1:
        raise ValueError(f"assigner spec {spec!r} combines base strategies {bases}; pick one of "
                         f"{[n for n, c in ASSIGNERS.items() if c.KIND == 'base']} plus modifiers {list(MODIFIER_ORDER)}")
    return (bases[0] if bases else DEFAULT_BASE), {n for n in names if n not in bases}


def build_assigner(spec: str = DEFAULT_BASE, **params) -> Assigner:
    """Build an assigner from a spec such as ``"radius+ignore+dedup"``.

    Args:
        spec: one name of ``ASSIGNERS`` or several joined by '+': at most one base strategy
            (yolov5, distance, radius; yolov5 when only modifiers are named) and any modifiers,
            applied in the fixed order recover -> dedup -> ignore whatever the spec order.
        **params: any keys of ``ASSIGNER_PARAMS``; each component receives the ones its class
            declares in ``PARAMS``, the others are accepted and unused (the trainer passes all).
    Raises:
        ValueError: unknown or reserved name, repeated name, two base strategies, unknown
            parameter key or invalid parameter value.
    """
    unknown = sorted(set(params) - set(ASSIGNER_PARAMS))
    if unknown:
        raise ValueError(f"unknown assigner parameter(s) {unknown}; valid: {sorted(ASSIGNER_PARAMS)}")
    base, mods = _parse(spec)

    def make(name):
        cls = ASSIGNERS[name]
        return cls(**{k: params[k] for k in cls.PARAMS if k in params})

    parts = {m: make(m) if m in mods else None for m in MODIFIER_ORDER}
    return Assigner(make(base), **parts)


def describe_assigners() -> str:
    """One line per registered name: kind, description and parameters with defaults."""
    width = max(map(len, ASSIGNERS))
    lines = []
    for name, cls in ASSIGNERS.items():
        params = ", ".join(f"{k}={v}" for k, v in cls.PARAMS.items())
        lines.append(f"{name:<{width}}  {cls.KIND:<8}  {cls.DESCRIPTION}" + (f"  [{params}]" if params else ""))
    return "\n".join(lines)
