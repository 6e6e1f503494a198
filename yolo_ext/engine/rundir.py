"""The run directory of a training: chosen and locked before ultralytics writes anything into it.

Upstream picks the directory inside ``BaseTrainer.__init__`` and writes ``args.yaml`` there at once, so two trainings
with the same ``--name --exist-ok`` would mix their files. :func:`claim_run_dir` decides the directory first (the same
rule as ultralytics' ``get_save_dir``; without ``exist_ok`` the new folder is created exclusively, so two concurrent
starts never pick the same ``exp-N``), locks it (``yolo_ext.utils.locks``) and hands it to ultralytics as
``save_dir``.

Resuming (``resume=PATH``): the checkpoint must exist (upstream silently falls back to the newest ``last.pt`` it finds,
i.e. another run), and the resumed run writes into the folder that holds it (``RUN/weights/last.pt`` -> ``RUN``; a
checkpoint outside a ``weights/`` folder -> its own folder), not into the folder recorded in the checkpoint, so a
copied run folder continues in the copy. The log says where it writes.
"""

from __future__ import annotations

from pathlib import Path

from ultralytics.cfg import get_cfg, get_save_dir
from ultralytics.utils import LOGGER, RANK
from ultralytics.utils.files import get_latest_run

from ..utils.files import atomic_write
from ..utils.locks import DirLock

LOCK_WHAT = "run directory"


def resolve_resume(resume) -> Path:
    """``resume`` (True = the newest ``last*.pt`` under the working directory, as upstream, or a path) -> an existing
    checkpoint path.

    Raises:
        FileNotFoundError: naming the path (or saying that no run was found).
    """
    if resume is True or (isinstance(resume, str) and resume.lower() == "true"):
        latest = get_latest_run()
        if not latest:
            raise FileNotFoundError(f"resume: no last.pt found under {Path.cwd()}; pass the checkpoint: "
                                    "--resume RUN/weights/last.pt")
        return Path(latest).resolve()
    p = Path(str(resume)).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"resume: checkpoint not found: {p} (nothing was resumed; pass an existing "
                                "RUN/weights/last.pt)")
    return p.resolve()


def run_dir_of(ckpt: Path) -> Path:
    """The run folder a checkpoint belongs to: ``RUN/weights/x.pt`` -> ``RUN``, anything else -> its folder."""
    return ckpt.parent.parent if ckpt.parent.name == "weights" else ckpt.parent


def claim_run_dir(base: dict, overrides: dict) -> tuple[dict, DirLock | None]:
    """-> (overrides with ``save_dir`` (and an absolute ``resume``) set, the held lock or None).

    DDP workers (``RANK != -1``) take no lock: the launching process holds it for them.

    Raises:
        FileNotFoundError: a ``resume`` checkpoint that does not exist.
        yolo_ext.utils.locks.DirLockedError: the directory is in use by another process.
    """
    ov = dict(overrides)
    if ov.get("resume"):
        ckpt = resolve_resume(ov["resume"])
        run = run_dir_of(ckpt)
        ov["resume"], ov["save_dir"] = str(ckpt), str(run)
        if RANK in {-1, 0}:
            LOGGER.info(f"resume: continuing {ckpt}, writing into {run}")
    elif ov.get("save_dir"):
        run = Path(ov["save_dir"]).resolve()
    else:
        run = _new_run_dir(get_cfg(base, ov))
        ov["save_dir"] = str(run)
    if RANK != -1:
        return ov, None
    return ov, DirLock(run, LOCK_WHAT)


def _new_run_dir(args) -> Path:
    """ultralytics' ``get_save_dir`` rule; without ``exist_ok`` the folder is created exclusively (retried on races)."""
    for _ in range(100):
        d = get_save_dir(args)
        try:
            d.mkdir(parents=True, exist_ok=bool(args.exist_ok))
            return d
        except FileExistsError:
            continue  # another training took this name between the check and the mkdir: take the next one
    raise FileExistsError(f"could not create a new run directory next to {d}")


def drop_rows_after(csv_path: Path, epochs: int) -> int:
    """Keep only the header and rows of epochs ``<= epochs`` (1-based, the first column) in results.csv; returns how
    many rows were dropped. A run killed between the results.csv append and the checkpoint save left the row of an
    epoch the checkpoint does not hold; the resumed run trains that epoch again and appends it again."""
    try:
        lines = csv_path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    keep, dropped = lines[:1], 0
    for line in lines[1:]:
        try:
            e = float(line.split(",", 1)[0])
        except ValueError:
            keep.append(line)
            continue
        if e > epochs:
            dropped += 1
        else:
            keep.append(line)
    if dropped:
        atomic_write(csv_path, "".join(keep))
        LOGGER.info(f"resume: dropped {dropped} row(s) after epoch {epochs} from {csv_path} (not in the checkpoint)")
    return dropped
