"""Room-independent helpers (standard library only): atomic file writes, directory locks, output folders a tool owns
(marker files), and the repository root."""

from .files import atomic_dir, atomic_path, atomic_write
from .repo import ROOT, datasets_dir

__all__ = ["ROOT", "atomic_dir", "atomic_path", "atomic_write"]
