"""``python -m yolo_ext.cli.claims``: write docs/claims.md (verdicts on the practitioner's claims) and, with
--ablation, the study's tables and chart (docs/ablation.md) from the study's finished runs; trains nothing, so it can
be rerun whenever more seeds have finished (each run's positives per face cost one pass over its training images
the first time, then come from the run's positives.json). A tier whose claims-file entry names ``records:`` also
keeps that records file (yolo_ext.ablate.records) up to date, and counts the records of runs whose directory is
gone."""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ..ablate.claims import ClaimsError, load_claims, load_tier, save_records
from ..ablate.claims_report import verdict_lines, write_claims
from ..ablate.plan import PlanError
from ..ablate.records import RecordsError
from ..ablate.study_report import write_study
from ..config.paths import DATA
from .common import fail


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m yolo_ext.cli.claims", description=__doc__.split(":", 1)[1].strip())
    ap.add_argument("--claims", default=str(DATA / "ablations" / "claims.yaml"), help="claims YAML (tiers + claims)")
    ap.add_argument("--root", default=".", help="directory the claims file's plan/out/history paths are relative to")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per tier a verdict needs (0..N-1)")
    ap.add_argument("--out", default="docs/claims.md", help="Markdown file to write (atomically)")
    ap.add_argument("--ablation", default=None, metavar="MD",
                    help="also write the tiers' tables to MD (e.g. docs/ablation.md), with the first study's table "
                         "as history, and next to it their chart (img/ablation.png) and per-run values "
                         "(<MD stem>_tiers.csv)")
    ap.add_argument("--readme", default=None, metavar="README",
                    help="with --ablation: rewrite the study summary between the study-v2-summary markers there")
    return ap


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if a.seeds < 1:
        fail("claims", "--seeds must be >= 1")
    try:
        specs, claims = load_claims(a.claims)
        tiers = [load_tier(s, Path(a.root), a.seeds) for s in specs]
    except (ClaimsError, PlanError, RecordsError, OSError) as e:
        fail("claims", str(e))
    command = shlex.join(["python", "-m", "yolo_ext.cli.claims", *(sys.argv[1:] if argv is None else argv)])
    if a.readme and not a.ablation:
        fail("claims", "--readme needs --ablation")
    for t in tiers:  # the finished runs' records first: they are what survives the run directories
        if save_records(t):
            print(f"claims: {t.name}: updated {t.records_path}")
    path = write_claims(claims, tiers, a.out, command)
    print(f"claims: wrote {path}")
    if a.ablation:
        try:
            written = write_study(tiers, specs, Path(a.root), a.ablation, command, a.readme,
                                  verdict_lines(claims, tiers))
        except (ValueError, OSError) as e:
            fail("claims", str(e))
        print("claims: wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
