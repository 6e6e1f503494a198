"""Precision-recall figure of the three WIDER FACE settings (matplotlib, Agg backend)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from .evaluation import PRCurve


def plot_pr(curves: Mapping[str, PRCurve], path, title: str = "WIDER FACE val") -> Path:
    """Save the PR curves (recall on x, precision on y), AP in the legend; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    colors = {"easy": "tab:green", "medium": "tab:orange", "hard": "tab:red"}
    for name, c in curves.items():
        ok = np.isfinite(c.precision)  # no point where no detection passes the threshold
        ax.plot(c.recall[ok], c.precision[ok], color=colors.get(name), lw=2,
                label=f"{name}: AP {c.ap:.4f} ({c.count_face} faces)")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix or ".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
