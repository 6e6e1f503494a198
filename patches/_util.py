"""Helpers shared by the patch modules."""

import importlib

_MARK = "__yolo_ext_patched__"


def replace(module_name: str, attr: str, make):
    """Replace ``module.attr`` by ``make(original)`` once; returns the installed function."""
    mod = importlib.import_module(module_name)
    cur = getattr(mod, attr)
    if getattr(cur, _MARK, False):
        return cur
    new = make(cur)
    setattr(new, _MARK, True)
    new.__wrapped_original__ = cur
    setattr(mod, attr, new)
    return new
