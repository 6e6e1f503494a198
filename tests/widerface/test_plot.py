"""The WIDER PR figure: written atomically with the usual mode, and without touching the caller's backend."""

import os
import stat

import matplotlib
import numpy as np

from yolo_ext.widerface.evaluation import PRCurve
from yolo_ext.widerface.plot import plot_pr

from helpers import foreign_backend


def curves():
    r = np.linspace(0, 0.8, 1000)
    p = np.where(r < 0.05, np.nan, 1 - r / 2)
    return {s: PRCurve(precision=p, recall=r, thresholds=np.linspace(1, 0, 1000), tp=np.zeros(1000),
                       proposals=np.zeros(1000), count_face=10, ap=0.5) for s in ("easy", "medium", "hard")}


def test_plot_keeps_callers_backend_and_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with foreign_backend() as name:
            out = plot_pr(curves(), tmp_path / "sub" / "wider_pr.png", title="t")
            assert matplotlib.get_backend() == name
    finally:
        os.umask(old)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 1000
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert os.listdir(out.parent) == ["wider_pr.png"]


def test_plot_format_from_suffix(tmp_path):
    assert plot_pr(curves(), tmp_path / "pr.svg").read_text().lstrip().startswith("<?xml")
