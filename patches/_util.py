"""Helpers shared by the patch modules."""

import contextlib
import importlib
import inspect

_MARK = "__yolo_ext_patched__"


def resolve(module_name: str, attr: str):
    """``(owner, name, current value)`` of ``module.attr``; ``attr`` may be ``Class.method`` (a function on a class)."""
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for p in path:
        owner = getattr(owner, p)
    return owner, name, owner.__dict__[name] if path else getattr(owner, name)


def replace(module_name: str, attr: str, make):
    """Replace ``module.attr`` (or ``module.Class.method``) by ``make(original)`` once; returns the installed function."""
    owner, name, cur = resolve(module_name, attr)
    if getattr(cur, _MARK, False):
        return cur
    new = make(cur)
    setattr(new, _MARK, True)
    new.__wrapped_original__ = cur
    setattr(owner, name, new)
    return new


@contextlib.contextmanager
def substituted(module_name: str, attr: str, value):
    """Make ``module.attr`` resolve to ``value`` for the duration of the block, then restore it exactly (a name the
    module only served lazily, through a module ``__getattr__``, goes back to being lazy).

    For upstream functions that look a name up at call time (a module global, ``from pkg import Name`` inside the
    function): the substitution reaches that one call and nothing is left behind. Not thread-safe: another thread
    resolving the same name during the block sees ``value``; our uses run once, in the main thread.
    """
    mod = importlib.import_module(module_name)
    missing = object()
    old = vars(mod).get(attr, missing)
    setattr(mod, attr, value)
    try:
        yield value
    finally:
        if old is missing:
            delattr(mod, attr)
        else:
            setattr(mod, attr, old)


def source_contains(module_name: str, attr: str, snippet: str) -> bool:
    """True if the source of upstream ``module.attr`` (unwrapped from our patch) contains ``snippet``: the test of
    an upstream detail a patch leans on (see each module's ``RELIES_ON``)."""

    obj = resolve(module_name, attr)[2]
    obj = getattr(obj, "__wrapped_original__", obj)
    return snippet in inspect.getsource(obj)
