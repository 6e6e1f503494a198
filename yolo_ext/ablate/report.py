"""Write an ``Aggregate`` as ``results.md`` (tables + provenance), ``results.csv`` (one row per configuration),
``results_runs.csv`` (one row per run and seed) and ``results.png`` (grouped bars with std error bars), atomically.

APs and mAPs are shown in percent in the Markdown table and the chart, stored as fractions in the CSVs. Not
applicable values (WIDER AP on data without a ``widerface:`` section, std of a single seed) are ``n/a`` / ``NA``,
never 0.
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
from .aggregate import DELTA_METRICS, STAT_METRICS, Aggregate

LABELS = {"easy": "Easy AP", "medium": "Medium AP", "hard": "Hard AP", "mAP50": "mAP50", "mAP50-95": "mAP50-95",
          "train_time_s": "train time", "wall_s": "wall time"}
PERCENT = {"easy", "medium", "hard", "mAP50", "mAP50-95"}


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_cell(metric: str, mean: float, std: float) -> str:
    """'85.3 ± 0.4' for APs (percent), '251 ± 3 s' for times; 'n/a' for NaN; std omitted when NaN."""
    if _nan(mean):
        return "n/a"
    scale, unit, nd = (100.0, "", 1) if metric in PERCENT else (1.0, " s", 0)
    s = f"{mean * scale:.{nd}f}"
    return s + ("" if _nan(std) else f" ± {std * scale:.{nd}f}") + unit


def fmt_delta(d: float) -> str:
    return "n/a" if _nan(d) else f"{round(d * 100, 1) + 0.0:+.1f}"  # + 0.0: no '-0.0' for a tiny negative


def markdown(agg: Aggregate, command: str) -> str:
    plan, base = agg.plan, agg.baseline
    shown = [m for m in STAT_METRICS if agg.has_wider or m not in ("easy", "medium", "hard")]
    lines = [f"# Ablation: {plan.name}", ""]
    if plan.description:
        lines += [plan.description.strip(), ""]
    lines += [
        f"- Command: `{command}`",
        f"- Plan: `{plan.path}`; data: `{agg.data_yaml}`",
        f"- Seeds: {agg.seeds} ({agg.seed_start}..{agg.seed_start + agg.seeds - 1}); cells are mean ± sample standard deviation (n-1) over the seeds "
        f"that finished (`n`); APs in percent.",
        f"- Written: {datetime.datetime.now().isoformat(timespec='seconds')}",
    ]
    for env in agg.envs or [None]:
        lines.append("- Machine: " + (_env_line(env) if env else "unknown (no finished run recorded env.json)"))
    if len(agg.envs) > 1:
        lines.append(f"- **Warning**: the runs come from {len(agg.envs)} different machines or library versions "
                     "(listed above); numbers may not be comparable across them.")
    if not agg.has_wider:
        lines.append("- WIDER easy/medium/hard AP: n/a (the data has no `widerface:` section, so no run wrote "
                     "wider_ap.json); mAP50 columns are ultralytics' validation.")
    lines += ["", "| configuration | n | " + " | ".join(LABELS[m] for m in shown) + " |",
              "|---|---|" + "---|" * len(shown)]
    for c in agg.configs:
        name = c.run.name + (" (baseline)" if c is base else "")
        cells = [fmt_cell(m, c.mean[m], c.std[m]) for m in shown]
        lines.append(f"| {name} | {c.n}/{agg.seeds} | " + " | ".join(cells) + " |")
    dm = [m for m in DELTA_METRICS if m in shown]
    lines += ["", "![mean AP per configuration, error bars ±1 std over seeds](results.png)"]
    lines += ["", f"Difference of the means vs the baseline `{base.run.name}` (percentage points):", "",
              "| configuration | " + " | ".join(f"Δ {LABELS[m]}" for m in dm) + " |", "|---|" + "---|" * len(dm)]
    lines += [f"| {c.run.name} | " + " | ".join(fmt_delta(c.delta[m]) for m in dm) + " |" for c in agg.configs]
    key = agg.key_metric
    lines += ["", f"Paired by seed (a seed fixes the initialisation and the data order, so each seed's difference "
              f"cancels the variation both runs share): Δ {LABELS[key]} per seed and in how many seeds the "
              f"configuration beat the baseline:", "",
              f"| configuration | Δ {LABELS[key]} per seed | mean ± std | better in |", "|---|---|---|---|"]
    for c in agg.configs:
        if c is base:
            continue
        mean, std, better = c.paired_summary(key)
        per_seed = ", ".join(f"s{s} {fmt_delta(v)}" for s, v in c.paired[key]) or "n/a"
        std = "" if _nan(std) else f" ± {100 * std:.1f}"
        lines.append(f"| {c.run.name} | {per_seed} | {fmt_delta(mean)}{std} | {better}/{len(c.paired[key])} |")
    lines += ["", "Configurations:", ""]
    lines += [f"- `{c.run.name}`: {c.run.description or '-'} (`{_overrides_text(agg, c.run)}`)" for c in agg.configs]
    lines += ["", f"Failed or missing runs ({len(agg.failures)}), not included in any mean:", ""]
    lines += [f"- `{r}` seed {s}: {reason.splitlines()[0]}" for r, s, reason in agg.failures] or ["- none"]
    return "\n".join(lines) + "\n"


def _env_line(env: dict) -> str:
    extra = "".join(f", {v} {label}" for v, label in ((env.get("cpu_capability"), "kernels"),
                                                          (env.get("torch_threads"), "torch threads")) if v)
    return (f"CPU {env.get('cpu')} ({env.get('cpu_count')} cores{extra}), GPU {env.get('gpu')}; "
            f"torch {env.get('torch')}, ultralytics {env.get('ultralytics')}, Python {env.get('python')}")


def _overrides_text(agg: Aggregate, run) -> str:
    diff = {k: v for k, v in run.config.items() if agg.plan.base.get(k, object()) != v and k != "model"}
    model = Path(str(run.config.get("model", ""))).name
    return ", ".join([f"model={model}"] + [f"{k}={v}" for k, v in diff.items()])


def _csv_text(header: list, rows: list) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["NA" if _nan(x) else (repr(x) if isinstance(x, float) else x) for x in r])
    return buf.getvalue()


def summary_csv(agg: Aggregate) -> str:
    """One row per configuration: n, seeds, then mean/std (and delta for AP metrics) per metric; fractions/seconds."""
    header = ["configuration", "description", "baseline", "n", "seeds_ok"]
    for m in STAT_METRICS:
        header += [f"{m}_mean", f"{m}_std"] + ([f"{m}_delta"] if m in DELTA_METRICS else [])
    key = agg.key_metric
    header += [f"{key}_paired_deltas", f"{key}_paired_std", f"{key}_seeds_better"]
    rows = []
    for c in agg.configs:
        row = [c.run.name, c.run.description, int(c is agg.baseline), c.n, " ".join(map(str, c.seeds_ok))]
        for m in STAT_METRICS:
            row += [c.mean[m], c.std[m]] + ([c.delta[m]] if m in DELTA_METRICS else [])
        _, std, better = c.paired_summary(key)
        row += [" ".join(f"{s}:{v!r}" for s, v in c.paired[key]), std, better]
        rows.append(row)
    return _csv_text(header, rows)


def runs_csv(agg: Aggregate) -> str:
    """One row per (configuration, seed): the collected values, or the failure reason."""
    rows = []
    for c in agg.configs:
        rows += [[c.run.name, s, "ok", ""] + [c.values[m][i] for m in STAT_METRICS] for i, s in enumerate(c.seeds_ok)]
    rows += [[r, s, "failed", reason.splitlines()[0]] + [math.nan] * len(STAT_METRICS) for r, s, reason in agg.failures]
    return _csv_text(["configuration", "seed", "status", "reason", *STAT_METRICS], rows)


def bar_chart(agg: Aggregate) -> bytes:
    """PNG: per configuration, grouped bars of the mean (easy/medium/hard AP, or mAP50/mAP50-95 without WIDER data)
    with ±1 std error bars; configurations with no finished seed are marked 'no result'."""

    metrics = ("easy", "medium", "hard") if agg.has_wider else ("mAP50", "mAP50-95")
    names = [c.run.name for c in agg.configs]
    x, width, top = np.arange(len(names)), 0.8 / len(metrics), 1.0
    fig = Figure(figsize=(max(6.0, 0.9 * len(names) + 2), 4.5), dpi=120)
    ax = fig.subplots()
    for k, m in enumerate(metrics):
        mean = np.array([c.mean[m] for c in agg.configs]) * 100
        std = np.array([c.std[m] for c in agg.configs]) * 100  # NaN (one seed): no error bar drawn
        top = max(top, float(np.nanmax(np.append(mean + np.nan_to_num(std), 0.0))))
        ax.bar(x + (k - (len(metrics) - 1) / 2) * width, np.nan_to_num(mean), width, yerr=std, capsize=3,
               label=LABELS[m], error_kw={"elinewidth": 1})
    for i, c in enumerate(agg.configs):
        if c.n == 0:
            ax.text(x[i], 1, "no result", rotation=90, ha="center", va="bottom", fontsize=8, color="crimson")
    ax.set_xticks(x, [f"{n}\n(n={c.n})" for n, c in zip(names, agg.configs)], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("AP (%)")
    ax.set_title(f"{agg.plan.name}: mean ± std over seeds ({agg.seeds} planned)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_ylim(0, top * 1.2)  # headroom for the legend
    ax.legend(fontsize=8, ncol=len(metrics), loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_report(agg: Aggregate, out, command: str) -> dict:
    """Write the four files into ``out``; returns {kind: path}."""
    out = Path(out)
    files = {"md": out / "results.md", "csv": out / "results.csv", "runs_csv": out / "results_runs.csv",
             "png": out / "results.png"}
    atomic_write(files["csv"], summary_csv(agg))
    atomic_write(files["runs_csv"], runs_csv(agg))
    atomic_write(files["png"], bar_chart(agg))
    atomic_write(files["md"], markdown(agg, command))
    return files
