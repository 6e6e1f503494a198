"""Extension hyperparameters and where things are: defaults and their merge into ultralytics' cfg, command-line and
file overrides, repository paths, dataset resolution."""

from .data import resolve_data, wider_section
from .defaults import CRITERION_DEFAULTS, YOLOV5_OVERRIDES, ext_defaults, hyp, strip_ext, trainer_base_cfg
from .overrides import load_hyp, parse_set
from .paths import DATA, MODELS, ROOT, resolve_model_cfg, resolve_run_dir

__all__ = [
    "CRITERION_DEFAULTS",
    "DATA",
    "MODELS",
    "ROOT",
    "YOLOV5_OVERRIDES",
    "ext_defaults",
    "hyp",
    "load_hyp",
    "parse_set",
    "resolve_data",
    "resolve_model_cfg",
    "resolve_run_dir",
    "strip_ext",
    "trainer_base_cfg",
    "wider_section",
]
