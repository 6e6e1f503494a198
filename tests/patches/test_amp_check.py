"""patches/amp_check: upstream's check with only its download replaced (deny-list kept, model errors reported).

CPU only: a fake model reports a CUDA device to upstream and runs on the CPU; ``probe_image`` is replaced by a
recorder so the tests see whether (and how often) the local probe ran.
"""

import logging
from types import SimpleNamespace

import pytest
import torch

import yolo_ext  # noqa: F401  (applies the patches)
import ultralytics
import ultralytics.engine.trainer as upstream_trainer
from ultralytics.utils import LOGGER
import yolo_ext_patches.amp_check as amp

pytestmark = pytest.mark.filterwarnings("ignore:CUDA is not available")  # the autocast("cuda") call on a CPU machine


class FakeCudaModel(torch.nn.Module):
    """Says it lives on CUDA (all upstream looks at); eval forward returns ``(y, raw)`` like AnchorDetectionModel,
    ``y`` (1, 5, 3): boxes xywh px and a score; the second call (autocast) adds ``drift`` (box px, score)."""

    def __init__(self, drift=(0.0, 0.0), error=None):
        super().__init__()
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.drift, self.error, self.calls = drift, error, 0

    def parameters(self, recurse=True):
        yield SimpleNamespace(device=torch.device("cuda"))

    def forward(self, x):
        if self.error:
            raise self.error
        y = torch.tensor([[[10.0, 50.0, 200.0], [12.0, 60.0, 180.0], [4.0, 20.0, 90.0], [6.0, 30.0, 80.0],
                           [0.1, 0.5, 0.9]]])
        if self.calls:
            y[:, :4] += self.drift[0]
            y[:, 4] += self.drift[1]
        self.calls += 1
        return y, {"preds": []}


@pytest.fixture
def gpu(monkeypatch):
    """Set the fake GPU's name; returns the list of probe images the local probe made."""
    probes = []

    def probe_image(imgsz, device):
        probes.append((imgsz, device))
        return torch.zeros(1, 3, imgsz, imgsz)

    monkeypatch.setattr(amp, "probe_image", probe_image)

    def set_name(name):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        return probes

    return set_name


@pytest.fixture
def log():
    records = []
    h = logging.Handler()
    h.emit = lambda r: records.append(r.getMessage())
    LOGGER.addHandler(h)
    yield records
    LOGGER.removeHandler(h)


def check(model):
    return upstream_trainer.check_amp(model)  # the patched name the trainer calls


@pytest.mark.parametrize("name", ["NVIDIA GeForce GTX 1660 SUPER", "NVIDIA T400 4GB", "Tesla K40m"])
def test_deny_listed_gpu_disables_amp_without_probe(gpu, log, name):
    probes = gpu(name)
    assert check(FakeCudaModel()) is False
    assert probes == []
    assert any("AMP training on" in m and name in m for m in log)


def test_good_gpu_runs_local_probe_fp32_and_autocast(gpu, log):
    probes = gpu("NVIDIA H200")
    assert check(FakeCudaModel()) is True
    assert probes == [(256, torch.device("cuda"))] * 2  # upstream's size for stride 32; FP32 then autocast
    assert any("checks passed" in m for m in log)
    assert not any("download" in m.lower() for m in log)
    assert "YOLO" not in vars(ultralytics) and ultralytics.YOLO.__name__ == "YOLO"  # lazy name restored


@pytest.mark.parametrize("drift, ok", [((0.9, 0.0), True), ((0.0, 0.04), True), ((1.2, 0.0), False),
                                       ((0.0, 0.07), False)])
def test_tolerance_is_one_pixel_and_five_hundredths_of_score(gpu, log, drift, ok):
    gpu("NVIDIA H200")
    assert check(FakeCudaModel(drift=drift)) is ok
    if not ok:
        assert any("checks failed" in m for m in log)


@pytest.mark.parametrize("error", [AttributeError("'AnchorDetect' object has no attribute 'foo'"),
                                   ValueError("bad shape")])
def test_model_error_is_reported_not_hidden(gpu, log, error):
    gpu("NVIDIA H200")
    with pytest.raises(amp.AmpProbeError, match=str(error.args[0]).replace("'", ".")):
        check(FakeCudaModel(error=error))
    assert not any("checks skipped" in m for m in log)  # upstream's reading of an AttributeError
    assert "YOLO" not in vars(ultralytics)
    assert not any(isinstance(f, amp._NoDownloadMessage) for f in LOGGER.filters)


def test_cpu_model_has_no_amp_and_no_probe(gpu):
    probes = gpu("NVIDIA H200")
    assert check(torch.nn.Linear(2, 2)) is False and probes == []


def test_probe_matches_the_real_model_output():
    from yolo_ext.engine import AnchorDetectionModel
    from yolo_ext.config.paths import resolve_model_cfg

    torch.manual_seed(0)
    m = AnchorDetectionModel(str(resolve_model_cfg("face-vgg-fpn.yaml")), nc=1, verbose=False)
    data = amp.LocalProbe(m)(None, imgsz=64, device="cpu")[0].boxes.data
    with torch.no_grad():
        y = m.eval()(amp.probe_image(64, "cpu"))[0]
    assert torch.equal(data[:, :4], y[:, :4] * 0.5) and torch.allclose(data[:, 4:], y[:, 4:] * 10)
