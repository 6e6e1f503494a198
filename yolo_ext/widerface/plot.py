"""Precision-recall figure of the three WIDER FACE settings (matplotlib).

Drawn on a :class:`matplotlib.figure.Figure` (no pyplot state), so no backend is selected and the caller's backend
stays as it is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from ..utils.files import atomic_path
from .evaluation import PRCurve


def plot_pr(curves: Mapping[str, PRCurve], path, title: str = "WIDER FACE val") -> Path:
    """Save the PR curves (recall on x, precision on y), AP in the legend; written atomically (format from the
    suffix, PNG if none). Returns ``path``."""

    path = Path(path)
    fig = Figure(figsize=(6, 5), dpi=120)
    ax = fig.subplots()
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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")
    return path
