"""Hyperparameter search with Ray Tune, our trainer inside every trial (``python -m yolo_ext.tune``).

    python -m yolo_ext.tune --space data/tune/obj-balance.yaml --samples 16 --metric hard --scheduler asha

Modules: ``space`` (load/validate the search-space YAML), ``trial`` (one trial: a worker process per seed, per-epoch
reports), ``search`` (the Tuner, the table of trials, the best configuration as a hyp YAML and an ablation plan).
Built on the study runner (``yolo_ext.ablate``): a trial's seeds train exactly as an ablation run would.
"""

from .search import OBJECTIVES, collect_trials, run_search
from .space import Dist, Space, SpaceError, load_space

__all__ = ["Dist", "OBJECTIVES", "Space", "SpaceError", "collect_trials", "load_space", "run_search"]
