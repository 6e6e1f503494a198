"""yolo_ext.viz.common figures: drawn without pyplot (the caller's backend is kept), saved atomically, usual mode."""

import os
import stat

import matplotlib
import pytest

from yolo_ext.viz.common import new_figure, save_figure

from helpers import foreign_backend


@pytest.mark.parametrize("palette", [False, True])
def test_figure_keeps_callers_backend_and_gets_usual_mode(tmp_path, palette):
    old = os.umask(0o027)
    try:
        with foreign_backend() as name:
            fig, axes = new_figure(2, panel_in=1.0, top_in=0.3, bottom_in=0.2)
            axes[0].plot([0, 1], [0, 1])
            out = save_figure(fig, tmp_path / "f.png", dpi=50, palette=palette)
            assert matplotlib.get_backend() == name
    finally:
        os.umask(old)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["f.png"]


def test_palette_only_for_png_and_nothing_left(tmp_path):
    fig, _ = new_figure(1, panel_in=1.0, top_in=0.1, bottom_in=0.1)
    with pytest.raises(ValueError, match="PNG"):
        save_figure(fig, tmp_path / "f.pdf", dpi=50, palette=True)
    assert save_figure(fig, tmp_path / "f.pdf", dpi=50).read_bytes()[:4] == b"%PDF"
    assert os.listdir(tmp_path) == ["f.pdf"]
