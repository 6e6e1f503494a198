"""Model-YAML parser for yolo-ext models (those whose head is an ``AnchorDetect``).

Why our own: ultralytics' ``parse_model`` resolves channel arguments only for classes in closed local sets (identity
checks, so subclasses do not match) and passes unknown heads their arguments verbatim. This parser understands the
small vocabulary our YAMLs use and nothing else, and names the YAML and row in every error.

Vocabulary (row = ``[from, repeats, module, args]``):
- channel modules (ultralytics ``Conv``, ``C3``, ``SPPF``, ``Bottleneck`` and every class in ``yolo_ext.nn.MODULES``
  with ``yaml_channels = True``): args ``[c2, *rest]`` become ``(c1, c2 * width_multiple rounded up to 8, *rest)``;
  ``C3`` also gets the depth-scaled repeat count as its third argument (YOLOv5 v6 semantics);
- ``Concat``: output channels are the sum of its inputs; ``nn.*`` modules (e.g. ``nn.Upsample``) keep channels;
- ``AnchorDetect``: args ``[nc, anchors]`` (the strings ``nc`` / ``anchors`` resolve to the YAML keys).
"""

from __future__ import annotations

import ast
import math

import torch
from torch import nn
from ultralytics.nn.modules import C3, SPPF, Bottleneck, Concat, Conv
from ultralytics.utils import LOGGER

from .head import AnchorDetect
from .registry import MODULES

_ULTRA_CHANNEL = {"Conv": Conv, "C3": C3, "SPPF": SPPF, "Bottleneck": Bottleneck}
_REPEAT = (C3,)


def uses_anchor_head(d: dict) -> bool:
    """True if a model dict's last head row is an AnchorDetect (so this parser must build it)."""
    try:
        return d["head"][-1][2] == "AnchorDetect"
    except (KeyError, IndexError, TypeError):
        return False


def _resolve(name: str, where: str):
    if name in MODULES:
        return MODULES[name]
    if name in _ULTRA_CHANNEL:
        return _ULTRA_CHANNEL[name]
    if name == "Concat":
        return Concat
    if name.startswith("nn.") and isinstance(getattr(nn, name[3:], None), type):
        return getattr(nn, name[3:])
    valid = sorted([*MODULES, *_ULTRA_CHANNEL, "Concat", "nn.<torch module>"])  # MODULES holds AnchorDetect
    raise ValueError(f"{where}: unknown module '{name}'. Valid: {', '.join(valid)}")


def _arg(a, names: dict):
    """YAML argument: ``nc``/``anchors`` resolve to the YAML keys, other strings are Python literals if they parse
    (``None``, ``False``) and stay strings otherwise (``nearest``)."""
    if not isinstance(a, str):
        return a
    if a in names:
        return names[a]
    try:
        return ast.literal_eval(a)
    except (ValueError, SyntaxError):
        return a


def _divisible8(x: float) -> int:
    return int(math.ceil(x / 8) * 8)


def _layer_args(m, args: list, c_in: list, n: int, width: float, src: str):
    """Constructor arguments of one layer: ``(args, c2 output channels, n repeats left to the Sequential)``."""
    if m is AnchorDetect:
        return [args[0], args[1], c_in, f"{src}"], None, n
    if m in _ULTRA_CHANNEL.values() or getattr(m, "yaml_channels", False):
        c2 = _divisible8(args[0] * width)
        args = [c_in[0], c2, *args[1:]]
        if m in _REPEAT:
            return [*args[:2], n, *args[2:]], c2, 1
        return args, c2, n
    return args, (sum(c_in) if m is Concat else c_in[0]), n


def parse_anchor_model(d: dict, ch: int, verbose: bool = True):
    """Build ``(nn.Sequential, save_list)`` from a yolo-ext model dict, like ultralytics' ``parse_model``.

    Raises ``ValueError`` naming the YAML file (``d["yaml_file"]``), the layer index and its row for: a row that is
    not ``[from, repeats, module, args]``, an unknown module, a ``from`` that points at no earlier layer, arguments
    the module cannot be built from, and a last layer that is not ``AnchorDetect``.
    """
    src = d.get("yaml_file", "model YAML")
    depth, width = d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0)
    names = {"nc": d.get("nc"), "anchors": d.get("anchors")}
    if verbose:
        LOGGER.info(f"\n{'':>3}{'from':>20}{'n':>3}{'params':>10}  {'module':<45}{'arguments':<30}")
    chs, layers, save = [ch], [], []
    rows = list(d.get("backbone", [])) + list(d.get("head", []))
    for i, row in enumerate(rows):
        where = f"{src}: layer {i} {row!r}"
        if not (isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[3], (list, tuple))):
            raise ValueError(f"{where}: a layer row is [from, repeats, module, args]")
        f, n, name, args = row
        m = _resolve(name, where)
        args = [_arg(a, names) for a in args]
        fs = [f] if isinstance(f, int) else list(f) if isinstance(f, (list, tuple)) else [None]
        try:
            c_in = [chs[x] if x < 0 else chs[x + 1] for x in fs]
        except (IndexError, TypeError):
            raise ValueError(f"{where}: 'from' {f} points at a layer that does not exist yet") from None
        n = max(round(n * depth), 1) if n > 1 else n
        try:
            args, c2, n = _layer_args(m, args, c_in, n, width, src)
            module = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
        except (TypeError, ValueError, IndexError) as e:
            raise ValueError(f"{where}: cannot build {name}{tuple(args)}: {e}") from e
        if m is SPPF:  # YOLOv5's SPPF activates cv1; ultralytics >= 8.4 builds it without (see its parse_model)
            module.cv1.act = Conv.default_act
        module.i, module.f, module.type = i, f, f"{m.__module__}.{m.__name__}"
        module.np = sum(p.numel() for p in module.parameters())
        if verbose:
            LOGGER.info(f"{i:>3}{f!s:>20}{n:>3}{module.np:10.0f}  {module.type:<45}{str(args[:4]):<30}")
        save.extend(x % i for x in fs if x != -1)
        layers.append(module)
        chs.append(c2)
    if not layers or not isinstance(layers[-1], AnchorDetect):
        last = f"layer {len(rows) - 1} {rows[-1]!r}" if rows else "no layers"
        raise ValueError(f"{src}: {last}: the last layer must be AnchorDetect")
    return nn.Sequential(*layers), sorted(save)
