"""Seam: ``ultralytics.engine.trainer.check_amp`` (imported by name). Upstream's check is kept as it is (CPU / MPS:
no AMP; its deny-list of CUDA GPUs with broken AMP, GTX 16xx, T4xx ..., with its warning; its logging and verdict),
except for the one part that needs the network: upstream downloads yolo26n.pt (``from ultralytics import YOLO``
inside the function, then ``YOLO(weights)``) to compare FP32 and autocast predictions. For that one call ``YOLO``
resolves to :class:`LocalProbe`, the model being trained on a fixed random image, so nothing is downloaded.

A model that cannot run the probe raises :class:`AmpProbeError` (a ``RuntimeError`` naming the model's error):
upstream would otherwise read an ``AttributeError`` as "package modified, checks skipped" and train with AMP on.
"""

import logging
from copy import deepcopy
from types import SimpleNamespace

import torch
from ultralytics.utils import LOGGER

from ._util import replace, substituted

TARGETS = [("ultralytics.engine.trainer", "check_amp", ("model",))]
# upstream details this seam leans on (tests/patches checks them)
RELIES_ON = [
    ("ultralytics.utils.checks", "check_amp", "from ultralytics import YOLO"),
    ("ultralytics.utils.checks", "check_amp", "assert amp_allclose(YOLO(amp_weights), im)"),
    ("ultralytics.utils.checks", "check_amp", "m(batch, imgsz=imgsz, device=device, verbose=False)[0].boxes.data"),
    ("ultralytics.utils.checks", "check_amp", "torch.allclose(a, b.float(), atol=0.5)"),
    ("ultralytics.utils.checks", "check_amp", "t1000|t1200|t2000"),  # the deny-list
]

UPSTREAM_ATOL = 0.5  # upstream compares the probe's ``boxes.data`` FP32 vs autocast with this absolute tolerance
BOX_ATOL_PX = 1.0  # ours: decoded boxes (xywh, input pixels) within 1 px ...
SCORE_ATOL = 0.05  # ... and scores (obj * cls probabilities) within 0.05


class AmpProbeError(RuntimeError):
    """The model being trained failed to run the AMP probe (a model bug, reported as such)."""


def probe_image(imgsz: int, device) -> torch.Tensor:
    """The fixed probe input: (1, 3, imgsz, imgsz) float32 uniform [0, 1) (seed 0) on ``device``."""
    return torch.rand(1, 3, imgsz, imgsz, generator=torch.Generator().manual_seed(0)).to(device)


class LocalProbe:
    """Stands in for the ``YOLO(weights)`` model upstream downloads: a deep copy of the model being trained (eval).

    ``probe(source, imgsz=, device=, verbose=)`` ignores ``source`` (upstream's bus.jpg batch), runs the copy on
    :func:`probe_image` and returns ``[result]`` with ``result.boxes.data`` = the raw output ``y`` (1, 4 + nc, N)
    rescaled so that upstream's ``allclose(atol=UPSTREAM_ATOL)`` means ours: boxes x ``UPSTREAM_ATOL / BOX_ATOL_PX``,
    scores x ``UPSTREAM_ATOL / SCORE_ATOL``. Upstream calls it once in FP32 and once under autocast.
    """

    def __init__(self, model):
        self.model = deepcopy(model).eval()

    def __call__(self, source=None, imgsz=256, device=None, verbose=False):
        x = probe_image(imgsz, device)
        try:
            with torch.no_grad():
                y = self.model(x)[0].float()
        except Exception as e:
            raise AmpProbeError(f"AMP check: the model failed on a {imgsz}x{imgsz} probe image: "
                                f"{type(e).__name__}: {e}") from e
        data = torch.cat((y[:, :4] * (UPSTREAM_ATOL / BOX_ATOL_PX), y[:, 4:] * (UPSTREAM_ATOL / SCORE_ATOL)), 1)
        return [SimpleNamespace(boxes=SimpleNamespace(data=data))]


class _NoDownloadMessage(logging.Filter):
    """Drops upstream's "downloading yolo26n.pt for AMP checks" line: with the local probe nothing is downloaded."""

    def filter(self, record):
        return "downloading" not in record.getMessage()


def apply():
    def make(original):
        def check_amp(model):
            quiet = _NoDownloadMessage()
            LOGGER.addFilter(quiet)
            try:
                with substituted("ultralytics", "YOLO", lambda *a, **k: LocalProbe(model)):
                    return original(model)
            finally:
                LOGGER.removeFilter(quiet)

        return check_amp

    replace("ultralytics.engine.trainer", "check_amp", make)
