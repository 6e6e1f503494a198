"""``docs/ablation.md`` for a multi-tier study (study v2): per schedule tier, every configuration's mean ± std over
the seeds that finished (its own runs, plus an earlier study's identical runs where the tier names a ``history``),
the paired per-seed Δ hard AP against the tier's baseline, one chart of hard AP per row and tier, the compute the
tier used, and the earlier study's own table kept as history with its schedule.

Everything comes from ``claims.load_tier`` (fingerprint-checked runs) and the history CSV; nothing is typed in.
"""
from __future__ import annotations

import csv
import datetime
import io
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..utils.files import atomic_write
from .aggregate import mean_std
from .claims import Tier, paired
from .claims_report import fmt_mean_std
from .plan import load_plan

README_START = "<!-- study-v2-summary:start (written by python -m yolo_ext.cli.claims --readme README.md) -->"
README_END = "<!-- study-v2-summary:end -->"


def _overrides(run, base: dict) -> str:
    """The run's settings that differ from the plan's base (model YAMLs by file name)."""
    norm = lambda k, v: Path(str(v)).name if k == "model" else v  # noqa: E731
    diff = {k: v for k, v in run.config.items() if k not in base or norm(k, base[k]) != norm(k, v)}
    return ", ".join(f"{k}={norm(k, v)}" for k, v in diff.items()) or "the base"


def tier_rows(tier: Tier, root: Path) -> list:
    """Per configuration of the tier's plan, in plan order: name, description, overrides text, seeds that ran here
    and from history, the per-metric seed values, and the paired Δ hard against the baseline."""
    plan = load_plan(root / tier.plan_path, check_files=False)
    rows = []
    for r in plan.runs:
        by_seed = tier.values.get(r.name, {})
        seeds = sorted(s for s in by_seed if s < tier.seeds)
        d = [v for _, v in paired(tier, r.name, tier.baseline)] if r.name != tier.baseline else []
        rows.append({
            "name": r.name, "description": r.description, "overrides": _overrides(r, plan.base),
            "n_run": sum(tier.source.get((r.name, s)) in ("run", "record") for s in seeds),
            "n_hist": sum(tier.source.get((r.name, s)) == "history" for s in seeds),
            "values": {m: [by_seed[s][m] for s in seeds] for m in ("easy", "medium", "hard")},
            "delta": d, "better": sum(v > 0 for v in d)})
    return rows


def compute_used(tier: Tier) -> tuple:
    """(runs, wall seconds) of the tier's own finished runs (``done.json`` wall time, or the record's), over the
    runs whose wall time is known."""
    walls = [w for k, w in tier.walls.items() if tier.source.get(k) in ("run", "record")]
    return len(walls), sum(walls, 0.0)


def machines_used(tier: Tier) -> str:
    """'N on <machine>, ...' over the tier's own runs and records (history excluded), most used first; runs whose
    machine is unknown counted last."""
    own = [k for k, src in tier.source.items() if src in ("run", "record") and k[0] not in tier.aliases
           and k[1] < tier.seeds]
    count = {}
    for k in own:
        m = tier.machines.get(k) or "not recorded"
        count[m] = count.get(m, 0) + 1
    order = sorted(count, key=lambda m: (m == "not recorded", -count[m], m))
    return ", ".join(f"{count[m]} on {m}" for m in order)


def _tier_table(tier: Tier, rows: list) -> list:
    lines = [f"| configuration | seeds | Easy AP | Medium AP | Hard AP | Δ hard vs `{tier.baseline}` (paired) "
             "| better in | settings |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        n = r["n_run"] + r["n_hist"]
        seeds = f"{n}/{tier.seeds}" + (f" ({r['n_hist']} h)" if r["n_hist"] else "")
        base = r["name"] == tier.baseline
        delta = "baseline" if base else fmt_mean_std(r["delta"], signed=True)
        better = "" if base else (f"{r['better']}/{len(r['delta'])}" if r["delta"] else "n/a")
        v = r["values"]
        aps = " | ".join(fmt_mean_std(v[m]) for m in ("easy", "medium", "hard"))
        lines.append(f"| {r['name']} | {seeds} | {aps} | {delta} | {better} | {r['overrides']} |")
    return lines


def chart(tiers: list, all_rows: list) -> bytes:
    """PNG: horizontal bars of mean hard AP (±1 std) per configuration, one bar per tier, in plan order of the
    first tier; a row with no finished seed in a tier has no bar there."""
    names = [r["name"] for r in all_rows[0]]
    for rows in all_rows[1:]:
        names += [r["name"] for r in rows if r["name"] not in names]
    y = np.arange(len(names))
    h = 0.8 / len(tiers)
    fig = Figure(figsize=(8.0, 0.26 * len(names) + 1.6), dpi=110)
    ax = fig.subplots()
    for k, (tier, rows) in enumerate(zip(tiers, all_rows)):
        by = {r["name"]: r for r in rows}
        mean, std = [], []
        for n in names:
            m, s = mean_std(by[n]["values"]["hard"]) if n in by else (math.nan, math.nan)
            mean.append(m * 100)
            std.append(s * 100)
        mean, std = np.array(mean), np.array(std)
        off = (k - (len(tiers) - 1) / 2) * h
        ax.barh(y + off, np.nan_to_num(mean), h, xerr=np.where(np.isnan(std), 0, std), capsize=2,
                label=f"{tier.name} (n <= {tier.seeds})", error_kw={"elinewidth": 0.8})
        base = by.get(tier.baseline)
        if base and base["values"]["hard"]:
            ax.axvline(mean_std(base["values"]["hard"])[0] * 100, ls="--", lw=0.8, color=f"C{k}")
    seeds = [{r["name"]: len(r["values"]["hard"]) for r in rows} for rows in all_rows]
    ax.set_yticks(y, [f"{n} (n={'/'.join(str(c.get(n, 0)) for c in seeds)})" for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("WIDER hard AP (%), mean ± std over seeds (n per tier); dashed: each tier's baseline")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def history_table(spec: dict, root: Path) -> list:
    """The earlier study's own table (mean ± std per configuration over its ok seeds) from its per-run CSV."""
    plan = load_plan(root / spec["plan"], check_files=False)
    vals: dict = {}
    with open(root / spec["runs"], newline="") as f:
        for row in csv.DictReader(f):
            if row.get("status") == "ok":
                vals.setdefault(row["configuration"], []).append(row)
    lines = ["| configuration | seeds | Easy AP | Medium AP | Hard AP | train time |", "|---|---|---|---|---|---|"]
    for r in plan.runs:
        rs = vals.get(r.name, [])
        col = lambda k: [float(x[k]) for x in rs]  # noqa: E731
        t = mean_std(col("train_time_s"))[0]
        aps = " | ".join(fmt_mean_std(col(m)) for m in ("easy", "medium", "hard"))
        lines.append(f"| {r.name} | {len(rs)} | {aps} | "
                     + ("n/a" if math.isnan(t) else f"{t:.0f} s") + " |")
    return lines, plan


def study_markdown(tiers: list, specs: list, root: Path, command: str, img_rel: str) -> tuple:
    """(ablation.md text, chart PNG bytes, README summary lines)."""
    all_rows = [tier_rows(t, root) for t in tiers]
    now = datetime.datetime.now().isoformat(timespec="seconds")
    out = ["# Ablation: study v2", "",
           "Label assignment, objectness loss, anchors and training tricks on the synthetic WIDER FACE stand-in "
           "(300 train / 100 val images, 416 px), face model (VGG + FPN, P3-P5, 1 anchor per level unless stated), "
           "trained from scratch; WIDER easy/medium/hard AP (percent) of the final weights. Cells are mean ± sample "
           "std over the seeds that finished; Δ hard is the mean ± std of the per-seed differences against the "
           "baseline (same seed = same initialisation and data order), `better in` counts the seeds where the row "
           "won. `h`: seeds taken from the first study's identical runs (same fingerprint; docs/ablation_runs.csv). "
           "The verdicts on the practitioner's claims are in [claims.md](claims.md).", "",
           f"- Written by `{command}` on {now}", ""]
    summary = []
    for tier, spec, rows in zip(tiers, specs, all_rows):
        n, wall = compute_used(tier)
        done = sum(r["n_run"] + r["n_hist"] for r in rows)
        out += [f"## {tier.name}", "",
                f"- Plan: `{tier.plan_path}`; command: `python -m yolo_ext.ablate --plan {tier.plan_path} --seeds "
                f"{tier.seeds} --out {spec['out']}" + (f" --records {spec['records']}" if spec.get("records") else "")
                + "`",
                f"- {done} of {len(rows) * tier.seeds} (configuration, seed) results; compute of this tier's own "
                f"{n} runs: {wall / 3600:.1f} h wall on the 2-core CPU ({wall / max(n, 1):.0f} s per run; the sum "
                "of the runs' wall times, which overlap where runs shared a machine)"]
        if machines := machines_used(tier):
            out.append(f"- Machines (this tier's own runs): {machines}. A run is deterministic per machine, not "
                       "across CPUs, so a per-seed pair that ran on two machines also differs by run-to-run noise")
        out += [""]
        out += _tier_table(tier, rows) + [""]
        full = [r for r in rows if r["name"] != tier.baseline and len(r["delta"]) >= tier.seeds]
        top = sorted(full, key=lambda r: -mean_std(r["delta"])[0])[:5]
        if top:
            summary.append(f"- **{tier.name}** (rows with all {tier.seeds} seeds, Δ hard AP vs `{tier.baseline}`): "
                           + ", ".join(f"`{r['name']}` {fmt_mean_std(r['delta'], signed=True)} "
                                       f"({r['better']}/{len(r['delta'])})" for r in top))
    out += [f"![hard AP per configuration and schedule]({img_rel})", ""]
    for spec in specs:
        if spec.get("history"):
            lines, plan = history_table(spec["history"], root)
            out += ["## History: the first study", "",
                    f"The first study's own table (`{spec['history']['plan']}`: {plan.base.get('epochs')} epochs, "
                    f"batch {plan.base.get('batch')}, {plan.base.get('imgsz')} px, trained 2026-11-22/23; per-run "
                    f"values in `{spec['history']['runs']}`). Its rows with settings identical to a study v2 row "
                    "count as that row's seeds above.", ""] + lines + [""]
    return "\n".join(out), chart(tiers, all_rows), summary


def runs_csv(tiers: list) -> str:
    """One line per (tier, configuration, seed) that counts: where it came from (run; record: the tier's records
    file, its run directory gone; history), the three APs and
    the run's wall time (empty for history seeds) and the machine it trained on (empty where not recorded), so the
    numbers stay in the repository with the report."""
    lines = ["tier,configuration,seed,source,easy,medium,hard,wall_s,machine"]
    for t in tiers:
        for row in sorted(set(t.values) - set(t.aliases)):  # an alias is its row's seeds again
            for s in sorted(t.values[row]):
                if s >= t.seeds:
                    continue
                v = t.values[row][s]
                w = t.walls.get((row, s)) if t.source.get((row, s)) != "history" else None
                wall = "" if w is None else f"{w:.1f}"
                machine = (t.machines.get((row, s)) or "").replace(",", " ")
                lines.append(f"{t.name},{row},{s},{t.source.get((row, s), 'run')},{v['easy']!r},{v['medium']!r},"
                             f"{v['hard']!r},{wall},{machine}")
    return "\n".join(lines) + "\n"


def write_study(tiers: list, specs: list, root: Path, md_path, command: str, readme=None, verdicts=()) -> list:
    """Write ablation.md, its chart (``img/ablation.png`` next to it) and its per-run values (``<stem>_tiers.csv``:
    ``runs_csv``); with ``readme``, replace the text between
    ``README_START`` and ``README_END`` there with the summary. Returns the written paths."""
    md_path = Path(md_path)
    outputs = {md_path.resolve(), (md_path.parent / "img" / "ablation.png").resolve(),
               md_path.with_name(md_path.stem + "_tiers.csv").resolve()}
    for spec in specs:  # never overwrite an earlier study's values
        hist = spec.get("history")
        if hist and (root / hist["runs"]).resolve() in outputs:
            raise ValueError(f"{md_path}: would overwrite the history file {root / hist['runs']}")
    body = None
    if readme:  # checked before anything is written
        body = Path(readme).read_text()
        if README_START not in body or README_END not in body:
            raise ValueError(f"{readme}: no study summary markers ({README_START!r} ... {README_END!r})")
    img = md_path.parent / "img" / "ablation.png"
    text, png, summary = study_markdown(tiers, specs, root, command, "img/ablation.png")
    atomic_write(img, png)
    runs = md_path.with_name(md_path.stem + "_tiers.csv")
    atomic_write(runs, runs_csv(tiers))
    atomic_write(md_path, text)
    written = [md_path, img, runs]
    if readme:
        head, rest = body.split(README_START, 1)
        _, tail = rest.split(README_END, 1)
        block = summary + (["", "Verdicts on the practitioner's claims ([docs/claims.md](docs/claims.md)):", "",
                            *verdicts] if verdicts else [])
        atomic_write(readme, head + README_START + "\n" + "\n".join(block) + "\n" + README_END + tail)
        written.append(Path(readme))
    return written
