"""Seam: ``check_font`` (``ultralytics.utils.checks``, imported by name into ``ultralytics.data.utils`` and
``ultralytics.utils.plotting``). Upstream probes the network (``requests.head`` with a 3 s timeout) on every
train/val when Arial is not cached. We never download: the user's cached font if present, else a system font
matplotlib knows, else matplotlib's bundled DejaVuSans (always there, since ultralytics needs matplotlib)."""

from pathlib import Path

import matplotlib
from matplotlib import font_manager
from ultralytics.utils import USER_CONFIG_DIR

from ._util import replace

TARGETS = [
    ("ultralytics.utils.checks", "check_font", ("font",)),
    ("ultralytics.data.utils", "check_font", ("font",)),
    ("ultralytics.utils.plotting", "check_font", ("font",)),
]


def local_font(font="Arial.ttf"):
    """Resolve a font file without touching the network."""

    name = Path(font).name
    if (USER_CONFIG_DIR / name).exists():
        return USER_CONFIG_DIR / name
    for f in font_manager.fontManager.ttflist:
        if name in f.fname and Path(f.fname).exists():
            return f.fname
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def apply():
    for mod, attr, _ in TARGETS:
        replace(mod, attr, lambda original: (lambda font="Arial.ttf": local_font(font)))
