"""patches/strip_optimizer: our keys kept, one load, atomic usual-mode write, upstream's graceful {} for bad files."""

import os
import pickle
import stat

import pytest
import torch
from ultralytics.utils import DEFAULT_CFG_DICT

import yolo_ext  # noqa: F401  (applies the patches)
import ultralytics.engine.trainer as upstream_trainer

EXT = {"assigner": "radius", "anchor_t": 3.5, "obj_gain_scale": 2.0}


def checkpoint(path, ext=EXT):
    torch.save({"model": torch.nn.Linear(2, 2), "ema": None, "optimizer": {"state": {}}, "epoch": 3,
                "train_args": {"epochs": 7, "imgsz": 64, **ext}}, path)
    return path


def strip(*args, **kwargs):
    return upstream_trainer.strip_optimizer(*args, **kwargs)  # the patched name final_eval calls


@pytest.fixture
def count_loads(monkeypatch):
    calls = []
    real = torch.load

    def counting(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(torch, "load", counting)
    return calls


def test_keeps_extension_keys_and_loads_once(tmp_path, count_loads):
    f = checkpoint(tmp_path / "last.pt")
    combined = strip(f)
    assert len(count_loads) == 1, count_loads
    saved = torch.load(f, weights_only=False)
    for ck in (combined, saved):
        assert ck["train_args"] == {**DEFAULT_CFG_DICT, "epochs": 7, "imgsz": 64, **EXT}
        assert list(ck["train_args"]) == [*DEFAULT_CFG_DICT, *EXT]  # ultralytics' keys first, then ours
        assert ck["optimizer"] is None and ck["epoch"] == -1
    assert sorted(os.listdir(tmp_path)) == ["last.pt"]


def test_stock_checkpoint_is_stripped_exactly_as_upstream(tmp_path):
    ours, theirs = checkpoint(tmp_path / "a.pt", ext={}), checkpoint(tmp_path / "b.pt", ext={})
    a = strip(ours)
    b = upstream_trainer.strip_optimizer.__wrapped_original__(theirs)
    assert a["train_args"] == b["train_args"] and set(a) == set(b)


def test_save_as_other_file_and_caller_updates(tmp_path):
    f = checkpoint(tmp_path / "best.pt")
    before = f.read_bytes()
    strip(f, str(tmp_path / "best-stripped.pt"), updates={"train_results": {"epoch": [0, 1]}})
    assert f.read_bytes() == before
    out = torch.load(tmp_path / "best-stripped.pt", weights_only=False)
    assert out["train_results"] == {"epoch": [0, 1]} and out["train_args"]["anchor_t"] == 3.5
    assert sorted(os.listdir(tmp_path)) == ["best-stripped.pt", "best.pt"]


def test_written_with_the_usual_mode(tmp_path):
    old = os.umask(0o027)
    try:
        f = checkpoint(tmp_path / "last.pt")
        os.chmod(f, 0o600)
        strip(f)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640


@pytest.mark.parametrize("content", [b"not a checkpoint", pickle.dumps([1, 2]), None])
def test_invalid_file_returns_empty_dict_and_leaves_it(tmp_path, content, count_loads):
    f = tmp_path / "bad.pt"
    if content is None:
        torch.save({"epoch": 1}, f)  # a dict without 'model'
    else:
        f.write_bytes(content)
    before = f.read_bytes()
    assert strip(f) == {}
    assert f.read_bytes() == before and os.listdir(tmp_path) == ["bad.pt"]
    assert len(count_loads) == 1


def test_missing_file_returns_empty_dict(tmp_path):
    assert strip(tmp_path / "missing.pt") == {}
    assert os.listdir(tmp_path) == []


def test_loader_is_restored_after_the_call(tmp_path):
    import ultralytics.utils.torch_utils as tu
    from ultralytics.utils.patches import torch_load

    strip(checkpoint(tmp_path / "x.pt"))
    strip(tmp_path / "missing.pt")
    assert tu.torch_load is torch_load
