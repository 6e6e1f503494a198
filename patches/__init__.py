"""The only code that reaches into ultralytics internals: one seam per module.

Each module names the upstream symbols it touches (``TARGETS``: module, attribute, expected parameter names) and has an
idempotent ``apply()``. ``tests/test_patches.py`` asserts every target still exists with that signature, so an
ultralytics upgrade fails loudly instead of silently skipping a patch.
"""

from . import amp_check, offline_font, parse_model, strip_optimizer

PATCHES = (parse_model, offline_font, amp_check, strip_optimizer)


def apply() -> None:
    """Apply every patch (safe to call any number of times)."""
    for p in PATCHES:
        p.apply()


def targets():
    """All (module, attribute, expected parameter names) that the patches touch."""
    return [t for p in PATCHES for t in p.TARGETS]
