"""Seam: ``ultralytics.engine.trainer.check_amp`` (imported by name). Upstream downloads yolo26n.pt on CUDA to
compare FP32 and AMP outputs. Ours runs the same kind of check on the model being trained: a deep copy evaluated on
a fixed random image in FP32 and under autocast, raw head outputs compared; no download."""

from copy import deepcopy

import torch

from ._util import replace

TARGETS = [("ultralytics.engine.trainer", "check_amp", ("model",))]


def amp_ok(model) -> bool:
    """True if AMP (CUDA autocast) reproduces the model's FP32 outputs (decoded boxes within 1 px / scores 0.05)."""
    from ultralytics.utils import LOGGER

    device = next(model.parameters()).device
    if device.type != "cuda":
        return False  # AMP is only used on CUDA devices (as upstream)
    m = deepcopy(model).eval()
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        a = m(x)[0].float()
        with torch.autocast("cuda"):
            b = m(x)[0].float()
    ok = bool(torch.allclose(a[:, :4], b[:, :4], atol=1.0) and torch.allclose(a[:, 4:], b[:, 4:], atol=0.05))
    LOGGER.info(f"AMP: local FP32-vs-autocast check {'passed' if ok else 'FAILED, training in FP32'}")
    return ok


def apply():
    def make(original):
        def check_amp(model):
            try:
                return amp_ok(model)
            except Exception as e:  # a model that cannot run the probe still trains, in FP32
                from ultralytics.utils import LOGGER

                LOGGER.warning(f"AMP: local check failed to run ({e}); training in FP32")
                return False

        return check_amp

    replace("ultralytics.engine.trainer", "check_amp", make)
