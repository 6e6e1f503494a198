"""``python -m yolo_ext.widerface evaluate`` stays light: numpy/scipy only (matplotlib only with --plot), never torch
or ultralytics (it imported both, about 2.3 s of its 4 s), with the reference APs to the last digit."""

import json
import os
import re
import subprocess
import sys

import pytest

from yolo_ext.widerface.reference import REFERENCE_AP_SEED0, find_shared_widerface, make_reference_predictions

from helpers import ROOT

SHARED = find_shared_widerface()
needs_shared = pytest.mark.skipif(SHARED is None, reason="shared/widerface reference material not found")


@pytest.fixture(scope="module")
def reference_preds(tmp_path_factory):
    return make_reference_predictions(SHARED, tmp_path_factory.mktemp("wider_ref_cli"), seed=0)


def imported_modules(args, cwd):
    """(stdout, top-level module names the process imported), from ``python -X importtime``."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "yolo_ext.widerface", *args], capture_output=True,
                       text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    names = {m.group(1).split(".")[0] for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", r.stderr, re.M)}
    return r.stdout, names


@needs_shared
def test_evaluate_imports_neither_torch_nor_ultralytics(reference_preds, tmp_path):
    args = ["evaluate", "--pred", str(reference_preds), "--gt", str(SHARED / "ground_truth"), "--json"]
    out, names = imported_modules(args, ROOT)
    assert {"numpy", "scipy", "yolo_ext"} <= names
    assert not names & {"torch", "ultralytics", "torchvision", "matplotlib", "PIL", "yolo_ext_patches"}, names
    assert json.loads(out) == REFERENCE_AP_SEED0  # exactly, to the last digit
    out, names = imported_modules([*args, "--plot", str(tmp_path / "pr.png")], ROOT)
    assert "matplotlib" in names and not names & {"torch", "ultralytics"}
    assert (tmp_path / "pr.png").is_file()


def test_public_names_still_load_on_demand_in_a_light_process():
    code = ("import runpy, sys; sys.orig_argv = [sys.executable, '-m', 'yolo_ext.widerface']; import yolo_ext; "
            "assert 'torch' not in sys.modules; from yolo_ext import AnchorYOLO; "
            "from ultralytics.nn import tasks; assert getattr(tasks.parse_model, '__yolo_ext_patched__', False); "
            "print(AnchorYOLO.__name__)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0 and r.stdout.strip().endswith("AnchorYOLO"), r.stderr[-2000:]
