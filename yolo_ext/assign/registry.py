"""Names -> assigner components, and everything derived from that one dict at call time.

Adding a component is one class (subclassing ``Strategy`` or ``Modifier``, base.py) and one entry
here: its parameters (:func:`assigner_params`, hence the trainer's settings keys), the
``--assigner list`` text (:func:`describe_assigners`), the modifier order
(:func:`modifier_order`) and the shared test sweep all read ``ASSIGNERS`` when they run, so an
entry added later (a plugin, ``monkeypatch.setitem`` in a test) is picked up too.
"""

from __future__ import annotations

from typing import Dict, Tuple, Type

from .atss import ATSSAssigner
from .base import Component
from .dedup import DedupModifier
from .ignore import IgnoreModifier
from .maxiou import MaxIoUAssigner
from .pipeline import Assigner
from .radius import RadiusAssigner
from .recover import RecoverModifier
from .simota import SimOTAAssigner
from .tal import TALAssigner
from .yolov5 import DistanceAssigner, YOLOv5Assigner

# The visible name -> class map. Modifiers apply in the order they appear here.
ASSIGNERS: Dict[str, Type[Component]] = {
    "yolov5": YOLOv5Assigner,
    "distance": DistanceAssigner,
    "radius": RadiusAssigner,
    "maxiou": MaxIoUAssigner,
    "atss": ATSSAssigner,
    "simota": SimOTAAssigner,
    "tal": TALAssigner,
    "recover": RecoverModifier,
    "dedup": DedupModifier,
    "ignore": IgnoreModifier,
}

DEFAULT_BASE = "yolov5"
RESERVED = ("list",)  # `train.py --assigner list` prints describe_assigners()


def base_names() -> Tuple[str, ...]:
    """Registered base strategies, in registry order."""
    return tuple(n for n, cls in ASSIGNERS.items() if cls.KIND == "base")


def modifier_order() -> Tuple[str, ...]:
    """Registered modifiers in application order (registry order)."""
    return tuple(n for n, cls in ASSIGNERS.items() if cls.KIND == "modifier")


def assigner_params() -> Dict[str, object]:
    """Union of every registered class's PARAMS (name -> default), computed now.

    Raises:
        ValueError: two classes declare one parameter with different defaults.
    """
    out: Dict[str, object] = {}
    for name, cls in ASSIGNERS.items():
        for key, default in cls.PARAMS.items():
            if key in out and out[key] != default:
                raise ValueError(f"assigner parameter {key!r} of {name!r} has default {default!r}, elsewhere {out[key]!r}")
            out[key] = default
    return out


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
                         f"{list(base_names())} plus modifiers {list(modifier_order())}")
    return (bases[0] if bases else DEFAULT_BASE), {n for n in names if n not in bases}


def build_assigner(spec: str = DEFAULT_BASE, **params) -> Assigner:
    """Build an assigner from a spec such as ``"radius+ignore+dedup"``.

    Args:
        spec: one name of ``ASSIGNERS`` or several joined by '+': at most one base strategy
            (``DEFAULT_BASE`` when only modifiers are named) and any modifiers, applied in
            :func:`modifier_order` (recover -> dedup -> ignore) whatever the spec order.
        **params: any keys of :func:`assigner_params`; each component receives the ones its class
            declares in ``PARAMS``, the others are accepted and unused (the trainer passes all).
    Raises:
        ValueError: unknown or reserved name, repeated name, two base strategies, unknown
            parameter key or a value out of range (the components' constructors check them), or a
            modifier the base refuses (its ``REFUSES``, e.g. ``tal+recover``).
        TypeError: a parameter of the wrong type (e.g. a bool or a string for a number).
    """
    known = assigner_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown assigner parameter(s) {unknown}; valid: {sorted(known)}")
    base, mods = _parse(spec)
    for m in sorted(mods & set(ASSIGNERS[base].REFUSES)):
        raise ValueError(f"assigner spec {spec!r}: {base!r} cannot be combined with {m!r}: {ASSIGNERS[base].REFUSES[m]}")
    names = [base] + [m for m in modifier_order() if m in mods]
    return Assigner({n: ASSIGNERS[n](**{k: params[k] for k in ASSIGNERS[n].PARAMS if k in params}) for n in names})


def describe_assigners() -> str:
    """One line per registered name: kind, description and parameters with defaults."""
    width = max(map(len, ASSIGNERS))
    lines = []
    for name, cls in ASSIGNERS.items():
        params = ", ".join(f"{k}={v}" for k, v in cls.PARAMS.items())
        lines.append(f"{name:<{width}}  {cls.KIND:<8}  {cls.DESCRIPTION}" + (f"  [{params}]" if params else ""))
    return "\n".join(lines)
