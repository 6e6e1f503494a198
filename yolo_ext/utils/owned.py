"""Output folders that a tool may replace: only its own previous output, recognised by a marker file.

The dataset tools (``python -m yolo_ext.widerface convert`` / ``synth``) build their output in a temporary folder and
swap it in as a whole (``atomic_dir``), which deletes what the folder held before. Before that, :func:`check_output_dir`
refuses a non-empty folder that the same tool did not write (no marker, or another tool's marker), refuses a previous
output of the same tool unless ``force``, and refuses an output folder equal to, inside or above the source folder
(replacing it would delete the source data). :func:`write_marker` puts the marker into the tree being built; its bytes
depend only on the tool name, so deterministic outputs stay byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path

MARKER = ".yolo_ext-output.json"


class OutputDirError(ValueError):
    """An output folder that must not be replaced (the message names it and says why)."""


def read_marker(out) -> dict | None:
    try:
        d = json.loads((Path(out) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def write_marker(tree, tool: str) -> Path:
    """Mark ``tree`` (the folder being built) as an output of ``tool``."""
    p = Path(tree) / MARKER
    p.write_text(json.dumps({"tool": tool, "written_by": "yolo_ext"}, sort_keys=True) + "\n")
    return p


def check_output_dir(out, tool: str, force: bool = False, source=None, flag: str = "--out",
                     source_flag: str = "--root") -> None:
    """Raise :class:`OutputDirError` unless ``out`` may receive a fresh output of ``tool`` (see the module docstring).

    ``source``: the input folder the tool reads (``out`` must be neither it, nor inside it, nor above it).
    """
    out = Path(out).expanduser().resolve()
    if source is not None:
        src = Path(source).expanduser().resolve()
        where = ("is" if out == src else "is a parent of" if out in src.parents else "is inside" if src in out.parents
                 else "")
        if where:
            raise OutputDirError(f"{flag} {out} {where} {source_flag} {src}: the output must be a separate folder "
                                 "(replacing it would delete or mix with the source data)")
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputDirError(f"{flag} {out} exists and is not a folder")
    if not any(out.iterdir()):
        return
    owner = read_marker(out)
    if owner is None:
        raise OutputDirError(f"{flag} {out} is not empty and is not an output of `{tool}` (no {MARKER}): refusing to "
                             "replace it; choose a new or empty folder")
    if owner.get("tool") != tool:
        raise OutputDirError(f"{flag} {out} holds an output of `{owner.get('tool')}`, not of `{tool}`: refusing to "
                             "replace it; choose a new or empty folder")
    if not force:
        raise OutputDirError(f"{flag} {out} holds a previous output of `{tool}`; pass --force to replace it")
