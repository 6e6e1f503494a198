"""The shared WIDER FACE reference material (real val ground truth + a detection set with known
official-protocol APs), used by tests and benchmarks. Nothing here is needed to evaluate."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from ..utils.repo import ROOT

# Official-protocol APs of ``make_preds.py GT_DIR OUT 0`` on the real val ground truth
# (see shared/widerface/README.md).
REFERENCE_AP_SEED0 = {"easy": 0.5033253261052524, "medium": 0.5439825703329582, "hard": 0.5124758606617836}


def find_shared_widerface() -> Optional[Path]:
    """``$WIDERFACE_SHARED``, else the first ``shared/widerface`` next to the repo root or one of
    its ancestors (the main checkout has it at ``<repo>/../shared``, worktrees one level deeper).
    Returns None when absent."""
    env = os.environ.get("WIDERFACE_SHARED")
    candidates = [Path(env)] if env else [p / "shared" / "widerface" for p in ROOT.parents]
    for c in candidates:
        if (c / "ground_truth" / "wider_face_val.mat").is_file() and (c / "make_preds.py").is_file():
            return c
    return None


def make_reference_predictions(shared: Path, out_dir, seed: int = 0) -> Path:
    """Run the shared ``make_preds.py`` (writes ~3,226 files into ``out_dir``)."""
    out_dir = Path(out_dir)
    subprocess.run([sys.executable, str(shared / "make_preds.py"), str(shared / "ground_truth"), str(out_dir), str(seed)],
                   check=True)
    return out_dir
