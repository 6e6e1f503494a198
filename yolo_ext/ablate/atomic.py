"""Atomic file writes: a temp file in the target's directory, then ``os.replace`` (readers never see half a file)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path, data) -> Path:
    """Write ``data`` (str or bytes) to ``path`` atomically; creates the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
