"""Seam: ``strip_optimizer`` as imported by name into ``ultralytics.engine.trainer`` (called by ``final_eval`` on
last.pt / best.pt). Upstream (1) drops every ``train_args`` key that is not an ultralytics default, which would lose
our extension hyperparameters (assigner, anchor_t, ...) from the final checkpoints, and (2) overwrites the file in
place. Ours lets upstream strip into a temporary file, puts the extension keys back, and renames it into place."""

import os
from pathlib import Path

from ._util import replace

TARGETS = [("ultralytics.engine.trainer", "strip_optimizer", ("f", "s", "updates"))]


def apply():
    def make(original):
        def strip_optimizer(f="best.pt", s="", updates=None):
            import torch
            from ultralytics.utils import DEFAULT_CFG_KEYS

            f = Path(f)
            dst = Path(s) if s else f
            args = (torch.load(f, map_location="cpu", weights_only=False).get("train_args") or {})
            ext = {k: v for k, v in args.items() if k not in DEFAULT_CFG_KEYS}
            tmp = dst.with_name(f".{dst.name}.tmp")
            combined = original(f, str(tmp), updates=updates)
            if ext:
                combined["train_args"] = {**combined["train_args"], **ext}
                torch.save(combined, tmp)
            os.replace(tmp, dst)
            return combined

        return strip_optimizer

    replace("ultralytics.engine.trainer", "strip_optimizer", make)
