"""Flags shared by the command-line front ends."""

from __future__ import annotations

import argparse
import sys

from ..config.paths import resolve_run_dir


def add_run_dir_args(ap: argparse.ArgumentParser, project: str) -> None:
    """--project / --name / --exist-ok, shared by train.py and val.py."""
    ap.add_argument("--project", default=project, help="runs directory (resolved to an absolute path)")
    ap.add_argument("--name", default="exp", help=f"run name ({project}/NAME, incremented if it exists)")
    ap.add_argument("--exist-ok", action="store_true", help="reuse an existing run directory")


def run_dir_overrides(a: argparse.Namespace) -> dict:
    """The ultralytics ``project`` (absolute), ``name`` and ``exist_ok`` of the parsed run-directory flags."""
    return {"project": resolve_run_dir(a.project), "name": a.name, "exist_ok": a.exist_ok}


def fail(prog: str, error: Exception) -> None:
    """End a CLI main on a bad setting: one line naming it on stderr, exit status 2 (as argparse does)."""
    print(f"{prog}: error: {error}", file=sys.stderr)
    raise SystemExit(2) from None
