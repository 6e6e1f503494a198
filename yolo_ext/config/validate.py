"""The one validation of every extension hyperparameter: names, types, ranges and combinations.

``validate(cfg)`` runs before any dataset or model is built: in the trainer constructor, in the command lines, and
when an ablation plan is loaded. It returns a copy with every extension value in its canonical type (``"0.5"`` ->
0.5, YAML ``true``/``false`` -> bool) and raises :class:`ConfigError` naming the key, the value and what is allowed.

- Types come from the defaults (``ext_defaults()``): a boolean key takes true/false only (never "maybe", never a
  number), a number key a number (a numeric string is read as one), an integer key an integral number, a string key
  a string. No value at all (``--set anchor_t=``) is an error.
- Ranges: the assigner's parameters are checked by building the assigner (each component checks its own); the loss
  parameters by building the loss functions; the criterion's, the loss balance's and the WIDER evaluation's keys by
  ``RULES`` below.
- The training-time tricks: probabilities (``cutout``, ``square_crop``, ``cutout_min_visible``) in [0, 1], scale
  ranges ``[low, high]`` non-empty (``cutout_scale`` within (0, 1], ``square_crop_scale`` above 0), ``cutout_holes``
  >= 1, ``cutout_fill`` ``random`` or a grey value 0..255, ``aux_weight`` >= 0, ``aux_assigner`` empty or a valid
  assigner spec (``CHECKS`` and ``RULES`` below; the range checks are ``yolo_ext.augment``'s own).
- Combinations: ``autobalance`` needs the ``mean`` objectness normalisation; ``assigner`` and a non-empty
  ``assigner_warmup`` must each build (a base refusing a modifier, ``tal+recover``, is an error); a loss without a
  positive weight takes ``obj_pw`` / ``cls_pos_weight`` = 1 only; ``square_crop`` cannot be combined with ``rect``
  training.
- A key set to a non-default value that no component of this run reads (``ignore_iou`` without ``ignore``,
  ``focal_gamma`` without a focal loss, ``ohem_ratio`` without ``ohem``) gives a warning, not an error.
- Aliases: ``label_smoothing`` (YOLOv5's name, which ultralytics drops from every cfg) means ``cls_label_smoothing``.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import yaml
from ultralytics.utils import LOGGER

from ..assign import ASSIGNERS, assigner_params, build_assigner
from ..augment import check_fill, check_range
from ..assign.registry import DEFAULT_BASE, base_names
from ..losses import LOSSES, NORM_MODES, get_loss
from .defaults import ext_defaults, loss_param_defaults
from .errors import ConfigError

ALIASES = {"label_smoothing": "cls_label_smoothing"}

# key -> (allowed(value) -> bool, what is allowed); numbers are already converted when these run
RULES: dict[str, tuple[Callable, str]] = {
    "obj": (lambda v: v >= 0, ">= 0"),
    "obj_pw": (lambda v: v > 0, "> 0"),
    "cls_pos_weight": (lambda v: v > 0, "> 0"),
    "cls_label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "gr": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "obj_norm": (lambda v: v in ("auto", *NORM_MODES), "one of auto, " + ", ".join(NORM_MODES)),
    "cls_norm": (lambda v: v in ("auto", *NORM_MODES), "one of auto, " + ", ".join(NORM_MODES)),
    "obj_loss": (lambda v: v in LOSSES, "one of " + ", ".join(LOSSES)),
    "cls_loss": (lambda v: v in LOSSES, "one of " + ", ".join(LOSSES)),
    "obj_norm_gain": (lambda v: v > 0, "> 0"),
    "ohem_ratio": (lambda v: v > 0, "> 0"),
    "ohem_min_neg": (lambda v: v >= 0, ">= 0"),
    "balance_target": (lambda v: v > 0, "> 0"),
    "obj_gain_scale": (lambda v: v > 0, "> 0"),
    "wider_conf": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "assigner_warmup_epochs": (lambda v: v >= 0, ">= 0 (epochs)"),
    "cutout": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "cutout_holes": (lambda v: v >= 1, ">= 1"),
    "cutout_min_visible": (lambda v: 0 <= v <= 1, "a fraction in [0, 1]"),
    "square_crop": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "aux_weight": (lambda v: v >= 0, ">= 0"),
    "transfer": (lambda v: v in ("full", "backbone"), "full or backbone (a backbone-only transfer of --weights)"),
}


def _yaml_value(v):
    """A value given as text (``"[0.3, 2.0]"``, ``"114"``) read as YAML; anything else as it is."""
    if isinstance(v, str):
        try:
            return yaml.safe_load(v)
        except yaml.YAMLError:
            return v
    return v


# key -> check(value) -> canonical value, raising ValueError that names the key (keys whose values are not one
# scalar type: ranges [low, high], 'random' or a number)
CHECKS: dict[str, Callable] = {
    "cutout_scale": lambda v: list(check_range("cutout_scale", _yaml_value(v), 0.0, 1.0)),
    "square_crop_scale": lambda v: list(check_range("square_crop_scale", _yaml_value(v), 0.0)),
    "cutout_fill": lambda v: check_fill("cutout_fill", _yaml_value(v)),
}

# key -> (does this run read it?, which setting would make it count); assigner and loss parameters are derived
USED_WHEN: dict[str, tuple[Callable[[dict], bool], str]] = {
    "ohem_ratio": (lambda c: c["ohem"], "ohem=true"),
    "ohem_min_neg": (lambda c: c["ohem"], "ohem=true"),
    "balance_target": (lambda c: c["adapt_obj_gain"], "adapt_obj_gain=true"),
    "obj_norm_gain": (lambda c: resolved_norm(c, "obj") != "mean", "an obj_norm other than mean"),
    "wider_conf": (lambda c: c["wider_eval"], "wider_eval=true"),
    "assigner_warmup": (lambda c: c["assigner_warmup_epochs"] > 0, "assigner_warmup_epochs > 0"),
    "assigner_warmup_epochs": (lambda c: bool(c["assigner_warmup"]), "an assigner_warmup spec"),
    **{k: (lambda c: c["cutout"] > 0, "cutout > 0")
       for k in ("cutout_holes", "cutout_scale", "cutout_min_visible", "cutout_fill")},
    "square_crop_scale": (lambda c: c["square_crop"] > 0, "square_crop > 0"),
}


def resolved_norm(cfg: dict, which: str) -> str:
    """``obj_norm`` / ``cls_norm`` with ``auto`` replaced by the loss's own default."""
    mode = cfg[f"{which}_norm"]
    return LOSSES[cfg[f"{which}_loss"]].default_norm if mode == "auto" else mode


def validate(cfg: dict, warn: Optional[Callable[[str], None]] = None) -> dict:
    """Check every extension key of ``cfg`` (other keys pass through untouched: ultralytics checks its own).

    Args:
        cfg: trainer overrides / args (dict); keys absent take their defaults for the combination checks.
        warn: called with each warning (default: the ultralytics logger).
    Returns:
        a copy of ``cfg`` with aliases renamed and extension values converted to their canonical types.
    Raises:
        ConfigError: the first bad key, naming it, its value and what is allowed.
    """
    warn = warn or (lambda msg: LOGGER.warning(f"yolo-ext: {msg}"))
    defaults = ext_defaults()
    out = rename_aliases(cfg)
    for k in [k for k in out if k in defaults]:
        out[k] = checked(k, out[k], defaults[k])
    full = {**defaults, **{k: v for k, v in out.items() if k in defaults}}
    _check_components(full)
    if full["square_crop"] > 0 and str(out.get("rect", False)).lower() == "true":
        raise ConfigError(f"square_crop={full['square_crop']!r} needs rect=false: a square crop is imgsz x imgsz, "
                          "rect batches have their own shapes")
    for msg in unused(full, defaults):
        warn(msg)
    return out


def checked(key: str, value, default):
    """One key's value converted (``CHECKS``, else the default's type) and range-checked (``RULES``), or
    ConfigError naming the key."""
    if key in CHECKS:
        if value is None:
            raise ConfigError(f"{key}: no value given; expected a value like the default {default!r}")
        try:
            return CHECKS[key](value)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    value = convert(key, value, default)
    if key in RULES and not RULES[key][0](value):
        raise ConfigError(f"{key}={value!r}: must be {RULES[key][1]}")
    return value


def rename_aliases(cfg: dict) -> dict:
    """Copy of ``cfg`` with alias keys renamed (``label_smoothing`` -> ``cls_label_smoothing``)."""
    out = dict(cfg)
    for old, new in ALIASES.items():
        if old in out:
            if new in out and out[new] != out[old]:
                raise ConfigError(f"{old}={out[old]!r} and {new}={out[new]!r} disagree ({old} is an alias of {new})")
            out[new] = out.pop(old)
    return out


def validate_trainer_args(base: dict, overrides: dict, warn=None) -> tuple[dict, dict]:
    """``validate`` for a trainer: ``base`` (every key, defaults merged) and ``overrides`` checked together, each
    returned with aliases renamed and extension values converted (so ``get_cfg`` sees canonical values)."""
    ext = ext_defaults()
    base, overrides = rename_aliases(base), rename_aliases(overrides)
    merged = validate({**{k: v for k, v in base.items() if k in ext}, **overrides}, warn)
    return ({k: merged.get(k, v) if k in ext and k not in overrides else v for k, v in base.items()},
            {k: merged[k] if k in ext else v for k, v in overrides.items()})


def convert(key: str, value, default):
    """``value`` in the type of ``default`` (bool, int, float or str), or ConfigError naming ``key``."""
    if value is None:
        raise ConfigError(f"{key}: no value given; expected {_kind(default)} like the default {default!r}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ConfigError(f"{key}={value!r}: expected true or false (a bool)")
    if isinstance(default, (int, float)):
        x = value
        if isinstance(x, str):
            try:
                x = float(x)
            except ValueError:
                raise ConfigError(f"{key}={value!r}: expected {_kind(default)}") from None
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ConfigError(f"{key}={value!r}: expected {_kind(default)} (finite)")
        if isinstance(default, int):
            if x != int(x):
                raise ConfigError(f"{key}={value!r}: expected an integer")
            return int(x)
        return float(x)
    if not isinstance(value, str):
        raise ConfigError(f"{key}={value!r}: expected a string like the default {default!r}")
    return value.strip()


def _kind(default) -> str:
    return {bool: "true or false", int: "an integer", float: "a number"}.get(type(default), "a string")


def _check_components(cfg: dict) -> None:
    """Build every registered assigner component and loss with its parameters (each checks its own ranges, so a bad
    value is an error even where this run would not read it), the run's assigner spec, then the combinations."""
    for name, cls in ASSIGNERS.items():
        try:
            cls(**{k: cfg[k] for k in cls.PARAMS})
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{e} (a parameter of assigner component {name!r})") from None
    for key in ("assigner", "assigner_warmup", "aux_assigner"):
        if key in ("assigner_warmup", "aux_assigner") and not cfg[key]:
            continue  # '' = no warm-up / the main assigner
        try:
            build_assigner(cfg[key], **{k: cfg[k] for k in assigner_params()})
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{key}={cfg[key]!r}: {e}") from None
    for name in LOSSES:
        for param, value in _loss_params(cfg, name).items():
            try:
                get_loss(name, **{param: value})
            except (ValueError, TypeError) as e:
                raise ConfigError(f"{name}_{param}={value!r}: {e}") from None
    for which, pw_key in (("obj", "obj_pw"), ("cls", "cls_pos_weight")):
        name = cfg[f"{which}_loss"]
        if not LOSSES[name].takes_pos_weight and cfg[pw_key] != 1:
            raise ConfigError(f"{pw_key}={cfg[pw_key]!r}: {which}_loss={name!r} takes no pos_weight (only 1 is allowed)")
    norm = resolved_norm(cfg, "obj")
    if cfg["autobalance"] and norm != "mean":
        how = f" (obj_norm='auto' with obj_loss={cfg['obj_loss']!r})" if cfg["obj_norm"] == "auto" else ""
        raise ConfigError(f"autobalance=true adapts YOLOv5's per-level means; it needs obj_norm=mean, got "
                          f"obj_norm={norm!r}{how}")


def _loss_params(cfg: dict, name: str) -> dict:
    pre = f"{name}_"
    return {k[len(pre):]: cfg[k] for k in loss_param_defaults() if k.startswith(pre)}


def unused(cfg: dict, defaults: dict) -> list:
    """Warnings for keys set away from their default that nothing in this run reads."""
    names = set()
    warm = cfg["assigner_warmup"] if cfg["assigner_warmup_epochs"] > 0 else ""
    for spec in (cfg["assigner"], warm, cfg["aux_assigner"]):  # warm-up and auxiliary-head assigners read parameters too
        parts = {n.strip() for n in spec.split("+") if n.strip()}
        if parts and not parts & set(base_names()):
            parts.add(DEFAULT_BASE)  # a spec of modifiers only runs on the default base
        names |= parts
    losses = {cfg["obj_loss"], cfg["cls_loss"]}
    msgs = []
    for k, default in defaults.items():
        if cfg[k] == default:
            continue
        owners = [n for n, cls in ASSIGNERS.items() if k in cls.PARAMS]
        if owners and not names & set(owners):
            msgs.append(f"{k}={cfg[k]!r} has no effect: assigner {cfg['assigner']!r} has no component reading it "
                        f"(read by: {', '.join(owners)})")
        loss = next((n for n in LOSSES if k.startswith(f"{n}_") and k in loss_param_defaults()), None)
        if loss and loss not in losses:
            msgs.append(f"{k}={cfg[k]!r} has no effect: neither obj_loss nor cls_loss is {loss!r}")
        if k in USED_WHEN and not USED_WHEN[k][0](cfg):
            msgs.append(f"{k}={cfg[k]!r} has no effect without {USED_WHEN[k][1]}")
    return msgs
