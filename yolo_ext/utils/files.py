"""Atomic file and directory writes (temp in the same folder, then os.replace): readers never see half a result.

The one helper of the project for every writer: :func:`atomic_path` for writers that want a path or open the file
themselves (``fig.savefig``, ``torch.save``, PIL, ultralytics' checkpoint writer), :func:`atomic_write` for bytes or
text, :func:`atomic_dir` for a whole tree.

Modes: results get the usual modes, as if written with ``open()`` / ``os.mkdir()``: files ``0666``, directories
``0777``, minus the process umask. The temporary names are therefore created by those calls (not by ``mkstemp`` /
``mkdtemp``, which create private ``0600`` / ``0700`` entries) and the kernel applies the umask; a random token in
the name keeps concurrent writers apart.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _sibling(path: Path, tag: str) -> Path:
    """A fresh hidden name next to ``path``: ``.<name>.<tag>-<random>.tmp`` (no file is created)."""
    return path.with_name(f".{path.name}.{tag}-{secrets.token_hex(6)}.tmp")


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for a writer to create; on success it replaces ``path``.

    The temp file does not exist when the block starts. When the block ends without error, the temp file, if the
    writer created it, replaces ``path`` (``os.replace``, atomic on one filesystem); if the writer wrote nothing,
    ``path`` is left as it is (e.g. a writer that skips an invalid input). On error the temp file is removed and
    ``path`` is untouched. The folder of ``path`` must exist.

    Example:
        >>> with atomic_path("out/fig.png") as tmp:
        ...     fig.savefig(tmp, format="png")
    """
    path = Path(path)
    tmp = _sibling(path, "part")
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left over after an error (os.replace consumed it otherwise)


def atomic_write(path, data) -> Path:
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically; creates the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "xb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    return path


@contextlib.contextmanager
def atomic_dir(out_dir, keep_existing: bool = False) -> Iterator[Path]:
    """Yield an empty temporary sibling directory; on success it replaces ``out_dir`` as a whole.

    An existing ``out_dir`` is moved aside first and deleted after the swap, so readers see either the old tree or
    the complete new one. ``keep_existing=True`` (caches of deterministic builds): if ``out_dir`` exists when the
    build is done (a concurrent builder finished first), it is kept and the new tree dropped. On error the temporary
    tree is removed. Creates the parent directory.
    """
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(out_dir, "build")
    os.mkdir(tmp)  # 0777 minus the umask, like any directory the user creates
    try:
        yield tmp
        if keep_existing and out_dir.exists():
            return
        old = None
        if out_dir.exists() or out_dir.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))  # private, deleted below
            os.replace(out_dir, old / "x")
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # only left over after an error or with keep_existing
