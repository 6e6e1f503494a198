"""Seam: ``strip_optimizer`` as imported by name into ``ultralytics.engine.trainer`` (called by ``final_eval`` on
last.pt / best.pt). Upstream (1) drops every ``train_args`` key that is not an ultralytics default, which would lose
our extension hyperparameters (assigner, anchor_t, ...) from the final checkpoints, and (2) overwrites the file in
place. Upstream also returns ``{}`` (with a warning, file untouched) for a file that is not a valid checkpoint.

Ours runs upstream as it is, with two substitutions for that one call:
- the checkpoint is loaded once, by upstream: its loader (``torch_load``, a module global of
  ``ultralytics.utils.torch_utils``) is wrapped so that the loaded ``train_args`` (all keys, ours included) go into
  upstream's own ``updates`` overlay, which upstream applies after stripping;
- upstream saves to the temporary path of ``yolo_ext.utils.files.atomic_path`` (handed to :func:`apply`: nothing here
  imports ``yolo_ext``), which replaces the file when upstream wrote it and leaves it alone when upstream skipped an
  invalid file.
"""

from pathlib import Path

import ultralytics.utils.torch_utils as tu
from ultralytics.utils import DEFAULT_CFG_DICT, DEFAULT_CFG_KEYS

from ._util import replace, substituted

TARGETS = [("ultralytics.engine.trainer", "strip_optimizer", ("f", "s", "updates"))]
# upstream details this seam leans on (tests/patches checks them): the load goes through the module global
# ``torch_load``, and ``updates`` overlays the stripped checkpoint
RELIES_ON = [
    ("ultralytics.utils.torch_utils", "strip_optimizer", "x = torch_load(f"),
    ("ultralytics.utils.torch_utils", "strip_optimizer", "combined = {**metadata, **x, **(updates or {})}"),
    ("ultralytics.utils.torch_utils", "strip_optimizer", "torch.save(combined, s or f)"),
]


def keep_extension_args(load, updates: dict):
    """Wrap checkpoint loader ``load`` so each loaded ``train_args`` is kept whole in ``updates["train_args"]``.

    Upstream keeps ``{**DEFAULT_CFG_DICT, **train_args}`` restricted to the ultralytics keys; we keep all of it
    (same key order: ultralytics' keys first, then ours). Nothing is added when there are no extension keys (a stock
    checkpoint comes out exactly as upstream writes it) or when the caller's ``updates`` sets ``train_args`` itself.
    """

    caller_sets_args = "train_args" in updates

    def loading(*args, **kwargs):
        x = load(*args, **kwargs)
        train_args = x.get("train_args") if isinstance(x, dict) else None
        if isinstance(train_args, dict) and not caller_sets_args and any(k not in DEFAULT_CFG_KEYS for k in train_args):
            updates["train_args"] = {**DEFAULT_CFG_DICT, **train_args}
        return x

    return loading


def apply(atomic_path=None):
    """Install the seam. ``atomic_path``: ``(path) -> context manager yielding a temporary path`` that replaces
    ``path`` on success if written (``yolo_ext.utils.files.atomic_path``); without it the seam is left as it is."""
    if atomic_path is None:
        return None

    def make(original):
        def strip_optimizer(f="best.pt", s="", updates=None):
            updates = dict(updates or {})
            load = keep_extension_args(tu.torch_load, updates)
            with atomic_path(Path(s) if s else Path(f)) as tmp, substituted(tu.__name__, "torch_load", load):
                return original(f, str(tmp), updates=updates)

        return strip_optimizer

    return replace("ultralytics.engine.trainer", "strip_optimizer", make)
