"""Dataset arguments: the built-in synthetic set, bundled YAMLs, and the ``widerface:`` section of a data YAML."""

from __future__ import annotations

from pathlib import Path

import yaml
from ultralytics.utils import DATASETS_DIR

from ..widerface.synth import MIN_SIZE, ensure_synth_dataset
from .errors import ConfigError
from .paths import DATA

SYNTH_KEYS = {"train": 300, "val": 100, "seed": 0, "size": 416}  # a data YAML's `synth:` section


HOW_TO_GET_DATA = ("nothing is downloaded: use --data synth (the built-in synthetic WIDER-format set), convert "
                   "WIDER FACE with `python -m yolo_ext.widerface convert --root WIDER_DIR --out DIR` and pass "
                   "DIR/<DIR name>.yaml, or give a local ultralytics dataset YAML")


def resolve_data(data: str) -> str:
    """Dataset argument -> ultralytics dataset YAML path (absolute), never anything ultralytics would download.

    'synth' (or 'default') is the built-in synthetic WIDER-format set; a YAML with a ``synth:`` section
    (``data/widerface-synth.yaml``) generates that synthetic set (cached, deterministic); a bare file name (no
    folder: ``widerface-synth.yaml``) not found in the working directory is looked up in ``data/``; a path with a
    folder is taken as it is (``datasets/widerface/widerface.yaml`` never turns into ``data/widerface.yaml``).

    Raises:
        FileNotFoundError: the YAML does not exist locally, or it has a ``download:`` entry and its images are
            missing (ultralytics would download them): says what is missing and how to make a dataset.
    """
    if data in ("synth", "default"):
        return str(ensure_synth_dataset())
    p = Path(data)
    bare = p.parent == Path(".") and not str(data).startswith(".")
    if bare and p.suffix in (".yaml", ".yml") and not p.exists() and (DATA / p.name).exists():
        p = DATA / p.name
    if not p.is_file():
        looked = f"{p.resolve()}" + (f" and {DATA / p.name}" if bare else "")
        raise FileNotFoundError(f"--data: dataset '{data}' not found (looked at {looked}); {HOW_TO_GET_DATA}")
    d = _read_yaml(p) if p.suffix in (".yaml", ".yml") else None
    if isinstance(d, dict) and isinstance(d.get("synth"), dict):
        return str(ensure_synth_dataset(**_synth_args(p, d["synth"])))
    if isinstance(d, dict) and d.get("download"):
        _check_no_download(p, d)
    return str(p.resolve())


def _check_no_download(p: Path, d: dict) -> None:
    """A YAML with ``download:`` (ultralytics' bundled ones): its val/train images must exist here, else ultralytics
    would fetch them. Paths as ultralytics resolves them (``path`` relative to its datasets dir when not found)."""
    from_yaml = Path(str(d.get("path") or p.parent))
    root = from_yaml if from_yaml.is_absolute() or from_yaml.exists() else Path(DATASETS_DIR) / from_yaml
    for k in ("val", "train"):
        for x in d.get(k) if isinstance(d.get(k), list) else [d.get(k)]:
            if x and not (root / str(x)).exists():
                raise FileNotFoundError(f"{p}: {k} images '{root / str(x)}' not found and the YAML would download "
                                        f"them; {HOW_TO_GET_DATA}")


def _read_yaml(p: Path):
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None


def _synth_args(p: Path, s: dict) -> dict:
    """A ``synth:`` section -> ``ensure_synth_dataset`` arguments (positive integers; seed >= 0)."""
    unknown = sorted(set(s) - set(SYNTH_KEYS))
    if unknown:
        raise ConfigError(f"{p}: unknown synth key(s) {unknown}; valid: {', '.join(SYNTH_KEYS)}")
    out = {}
    for k, default in SYNTH_KEYS.items():
        v, lo = s.get(k, default), {"seed": 0, "size": MIN_SIZE}.get(k, 1)
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"{p}: synth.{k}: {v!r} must be an integer >= {lo}")
        out[{"train": "n_train", "val": "n_val"}.get(k, k)] = v
    return out


def wider_section(data, check: bool = True) -> dict | None:
    """The ``widerface`` section of a dataset dict or YAML path, or None when it has none (the one place that decides
    whether data is WIDER-format). ``check``: its ``gt_dir`` and ``val_images`` must exist.

    Raises:
        FileNotFoundError: with ``check``, a missing path (naming the YAML key and the path).
    """
    src = "dataset"
    if isinstance(data, (str, Path)):
        p = Path(data)
        src = str(p)
        data = _read_yaml(p) if p.is_file() else {}
    sec = data.get("widerface") if isinstance(data, dict) else None
    if not sec:
        return None
    if not isinstance(sec, dict):
        raise ConfigError(f"{src}: 'widerface' must be a mapping with gt_dir and val_images, got {sec!r}")
    for k in ("gt_dir", "val_images") if check else ():
        if not sec.get(k) or not Path(sec[k]).exists():
            raise FileNotFoundError(f"{src}: widerface.{k}: '{sec.get(k)}' does not exist")
    return sec


def check_local_inputs(overrides: dict) -> dict:
    """Trainer overrides whose files must be local (nothing may reach ultralytics' downloader): ``data`` through
    :func:`resolve_data`, ``pretrained`` and a ``.pt`` ``model`` must be existing files. Returns the overrides with
    ``data`` resolved.

    Raises:
        FileNotFoundError: naming the key and the path.
    """
    ov = dict(overrides)
    if isinstance(ov.get("data"), (str, Path)) and ov["data"]:
        ov["data"] = resolve_data(str(ov["data"]))
    for k in ("pretrained", "model"):
        v = ov.get(k)
        if isinstance(v, (str, Path)) and str(v).endswith(".pt") and not Path(v).is_file():
            raise FileNotFoundError(f"{'weights' if k == 'pretrained' else k}: checkpoint not found: {v} (nothing is "
                                    "downloaded: give the path of a local .pt, e.g. a run's weights/best.pt)")
    return ov
