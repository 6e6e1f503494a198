"""Read a checkpoint of the ultralytics/yolov5 repository without its code: a restricted unpickler.

A YOLOv5 ``.pt`` (``torch.save`` of ``{"model": models.yolo.DetectionModel, "ema": ..., "opt": ..., ...}``, Jocher et
al., ultralytics/yolov5 ``train.py``) pickles whole ``nn.Module`` objects, so a plain ``torch.load`` needs the
repository's ``models.*`` packages on ``sys.path`` and runs whatever the pickle names. This unpickler resolves only
what rebuilds tensors (``torch._utils._rebuild_*``, storages, dtypes, ``OrderedDict``, ``torch.Size`` and a few
inert builtins); every other class (``models.yolo.*``, ``models.common.*``, ``torch.nn.*``, ``numpy`` scalars,
paths) becomes an inert :class:`StandIn` that only records its qualified name and pickled state. Nothing from the file
is executed; the module tree is then walked by ``_modules`` / ``_parameters`` / ``_buffers`` to recover the
``state_dict`` exactly as ``nn.Module.state_dict`` names it.
"""

from __future__ import annotations

import _compat_pickle
import collections
import pickle
import types
import zipfile
from pathlib import Path

import torch

# (module, name) pairs resolved to the real object: tensor reconstruction and inert containers only.
_REAL = {
    ("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"), ("builtins", "complex"),
}


class StandIn:
    """An inert stand-in for a class the checkpoint names: ``qualname`` is its ``module.name``; constructor arguments
    go to ``args``; the pickled state (a module's ``__dict__``) to the instance ``__dict__``."""

    qualname = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__["args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["state"] = state

    def __repr__(self):
        return f"StandIn({self.qualname})"


_STAND_INS: dict[str, type] = {}


def stand_in(module: str, name: str) -> type:
    """The (cached) stand-in class for ``module.name``."""
    q = f"{module}.{name}"
    if q not in _STAND_INS:
        _STAND_INS[q] = type(name, (StandIn,), {"qualname": q, "__module__": __name__})
    return _STAND_INS[q]


def _reconstructor(cls, base, state):
    """``copyreg._reconstructor`` (pickle protocols 0/1) for stand-ins: a bare instance; ``base`` is never called."""
    return cls.__new__(cls) if isinstance(cls, type) and issubclass(cls, StandIn) else stand_in("copyreg", "object")()


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` resolving only :data:`_REAL` globals and torch dtypes; everything else is a stand-in."""

    def find_class(self, module, name):
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol-2 pickles use the Python 2 names
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in _REAL:
            return getattr(__import__(module, fromlist=[name]), name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        return stand_in(module, name)


# the `pickle_module` torch.load takes (it subclasses `Unpickler`; legacy files use `load`)
PICKLE_MODULE = types.SimpleNamespace(__name__="yolo_ext_restricted_pickle", Unpickler=RestrictedUnpickler,
                                      load=lambda f, **kw: RestrictedUnpickler(f, **kw).load())


def restricted_load(path: str | Path):
    """``torch.load`` of ``path`` through :class:`RestrictedUnpickler` (tensors on the CPU)."""
    return torch.load(str(path), map_location="cpu", pickle_module=PICKLE_MODULE, weights_only=False)


def pickled_module_prefix(path: str | Path, module: str) -> bool:
    """Whether the pickle inside a ``torch.save`` zip archive names a global of ``module`` or a submodule of it (e.g.
    ``"models.yolo"``), from the raw bytes without unpickling: the ``GLOBAL`` opcode (``c`` + module + newline,
    protocols 0-3) or a short string pushed for ``STACK_GLOBAL`` (protocol >= 4). False for anything else."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            raw = z.read(name) if name else b""
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    m = module.encode()
    return any(tag in raw for tag in (b"c" + m + b"\n", b"c" + m + b".")) or any(
        b"\x8c" + bytes([n]) + m in raw for n in range(len(m), 64))


def module_state_dict(m, prefix: str = "") -> "collections.OrderedDict[str, torch.Tensor]":
    """``nn.Module.state_dict()`` of an unpickled module tree (real modules or stand-ins): parameters, then persistent
    buffers, then children, depth first, with ``.``-joined names."""
    out = collections.OrderedDict()
    d = vars(m)
    skip = set(d.get("_non_persistent_buffers_set", ()) or ())
    for k, v in (d.get("_parameters") or {}).items():
        if v is not None:
            out[prefix + k] = v.detach() if isinstance(v, torch.Tensor) else v
    for k, v in (d.get("_buffers") or {}).items():
        if v is not None and k not in skip:
            out[prefix + k] = v
    for k, child in (d.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state_dict(child, f"{prefix}{k}."))
    return out


def child(m, name: str):
    """Submodule ``name`` of an unpickled module (``m._modules[name]``), None if absent."""
    return (vars(m).get("_modules") or {}).get(name)


def qualname(obj) -> str:
    """``module.Class`` of a stand-in or a real object."""
    return obj.qualname if isinstance(obj, StandIn) else f"{type(obj).__module__}.{type(obj).__name__}"
