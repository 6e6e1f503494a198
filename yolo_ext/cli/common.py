"""Flags shared by the command-line front ends."""

from __future__ import annotations

import argparse


def add_run_dir_args(ap: argparse.ArgumentParser, project: str) -> None:
    """--project / --name / --exist-ok, shared by train.py and val.py."""
    ap.add_argument("--project", default=project, help="runs directory (resolved to an absolute path)")
    ap.add_argument("--name", default="exp", help=f"run name ({project}/NAME, incremented if it exists)")
    ap.add_argument("--exist-ok", action="store_true", help="reuse an existing run directory")
