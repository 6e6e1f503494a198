"""Every patched upstream symbol still exists with the expected signature; patches are idempotent and scoped."""

import inspect

import pytest

import yolo_ext_patches as patches
from yolo_ext_patches._util import resolve
import yolo_ext  # noqa: F401  (applies the patches)


@pytest.mark.parametrize("module, attr, params", patches.targets(), ids=lambda x: str(x))
def test_target_exists_with_signature(module, attr, params):
    cur = resolve(module, attr)[2]
    assert getattr(cur, "__yolo_ext_patched__", False), f"{module}.{attr} is not patched"
    original = cur.__wrapped_original__
    names = tuple(inspect.signature(original).parameters)
    assert names[: len(params)] == params, f"upstream {module}.{attr}{names} changed; expected {params}"


def test_apply_is_idempotent():
    before = {(m, a): resolve(m, a)[2] for m, a, _ in patches.targets()}
    patches.apply()
    patches.apply()
    after = {(m, a): resolve(m, a)[2] for m, a, _ in patches.targets()}
    assert before == after
    for f in after.values():  # never wraps a wrapper
        assert not getattr(f.__wrapped_original__, "__yolo_ext_patched__", False)


def test_stock_models_still_use_upstream_parser():
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.nn.modules.head import Detect

    m = DetectionModel("yolov5nu.yaml", nc=2, verbose=False)  # ultralytics' own anchor-free YOLOv5u
    assert type(m.model[-1]) is Detect


def test_font_never_touches_network(monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("network access")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    from ultralytics.utils import checks

    path = checks.check_font("Definitely-Missing-Font.ttf")
    assert path is not None and str(path).endswith(".ttf")


@pytest.mark.parametrize("module, attr, snippet", patches.relies_on(), ids=lambda x: str(x)[:40])
def test_upstream_details_the_patches_lean_on(module, attr, snippet):
    from yolo_ext_patches._util import source_contains

    assert source_contains(module, attr, snippet), f"upstream {module}.{attr} no longer contains {snippet!r}"
