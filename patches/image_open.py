"""Seam: ``PIL.Image.open``, which ultralytics replaces at import (``ultralytics.utils.patches.image_open``) by a
wrapper that, on the first file Pillow cannot identify, pip-installs ``pi-heif`` (a network access) and retries: a
corrupt or non-image file then ends in ``No module named 'pi_heif'`` instead of Pillow's error naming the file.

Ours keeps upstream's HEIF support where ``pi_heif`` is installed and otherwise calls Pillow's own ``open`` (upstream
keeps it as ``_image_open``), so an undecodable file raises ``PIL.UnidentifiedImageError("cannot identify image file
'PATH'")`` and nothing is installed."""

import importlib.util

import ultralytics.utils.patches as ul_patches  # installs upstream's wrapper first, so ours wraps it

from ._util import replace

TARGETS = [("PIL.Image", "open", ("filename",))]
RELIES_ON = [
    ("ultralytics.utils.patches", "image_open", "check_requirements(\"pi-heif\")"),
    ("ultralytics.utils.patches", "image_open", "_image_open(filename, *args, **kwargs)"),
]


def apply():
    pillow_open = ul_patches._image_open

    def make(original):
        def image_open(filename, *args, **kwargs):
            if importlib.util.find_spec("pi_heif") is not None:
                return original(filename, *args, **kwargs)  # upstream: registers the HEIF opener when needed
            return pillow_open(filename, *args, **kwargs)

        return image_open

    replace("PIL.Image", "open", make)
