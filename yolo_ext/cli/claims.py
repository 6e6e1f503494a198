"""``python -m yolo_ext.cli.claims``: write docs/claims.md (verdicts on the practitioner's claims) from the study's
finished runs; trains nothing, so it can be rerun whenever more seeds have finished."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ..ablate.claims import ClaimsError, load_claims, load_tier
from ..ablate.claims_report import write_claims
from ..ablate.plan import PlanError
from ..config.paths import DATA
from .common import fail


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.cli.claims", description=__doc__.split(":", 1)[1].strip())
    ap.add_argument("--claims", default=str(DATA / "ablations" / "claims.yaml"), help="claims YAML (tiers + claims)")
    ap.add_argument("--root", default=".", help="directory the claims file's plan/out/history paths are relative to")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per tier a verdict needs (0..N-1)")
    ap.add_argument("--out", default="docs/claims.md", help="Markdown file to write (atomically)")
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if a.seeds < 1:
        fail("claims", "--seeds must be >= 1")
    try:
        specs, claims = load_claims(a.claims)
        tiers = [load_tier(s, Path(a.root), a.seeds) for s in specs]
    except (ClaimsError, PlanError, OSError) as e:
        fail("claims", str(e))
    command = shlex.join(["python", "-m", "yolo_ext.cli.claims", *(sys.argv[1:] if argv is None else argv)])
    path = write_claims(claims, tiers, a.out, command)
    print(f"claims: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
