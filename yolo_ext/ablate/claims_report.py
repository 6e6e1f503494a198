"""``docs/claims.md``: one section per claim with its verdict per schedule tier, the paired per-seed evidence, the
loss balance each row ended at (with the positives per face of its final weights, ``positives.py``) and, for claims about small faces, AP by face height (``widerface.sizes``)."""
from __future__ import annotations

import datetime
import math
from pathlib import Path

from ..utils.files import atomic_write
from .aggregate import mean_std
from .claims import BAND, LITTLE, Claim, Tier, assigner_positives, combine, paired, verdict


def _pp(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{round(x * 100, 1) + 0.0:+.1f}"


def fmt_mean_std(values: list, signed: bool = False) -> str:
    m, s = mean_std(values)
    if math.isnan(m):
        return "n/a"
    head = _pp(m) if signed else f"{m * 100:.1f}"
    return head + ("" if math.isnan(s) else f" ± {s * 100:.1f}")


def comparisons(claim: Claim, tier: Tier) -> list:
    """[(row, against, per-seed deltas {metric: [(seed, d)]}, verdict)] of the claim's comparisons in ``tier``."""
    out = []
    for row, against in claim.compare:
        against = against or tier.baseline
        if row not in tier.rows or against not in tier.rows:
            continue
        d = {m: paired(tier, row, against, m) for m in ("easy", "medium", "hard")}
        out.append((row, against, d, verdict(d["hard"], claim.expect, tier.seeds)))
    return out


def _claim_tier(claim: Claim, tier: Tier) -> tuple:
    comps = comparisons(claim, tier)
    if not comps:
        return "not in this tier", []
    return combine([c[3] for c in comps], claim.rule), comps


def _sources(tier: Tier, rows) -> str:
    def having(src):
        return sorted({r for r in rows for s in range(tier.seeds) if tier.source.get((r, s)) == src})

    out = ""
    if hist := having("history"):
        out += (f" Rows {', '.join(f'`{r}`' for r in hist)}: some seeds come from the first study's runs (identical "
                "settings, same fingerprint; docs/ablation_runs.csv); those seeds have no loss balance or face-size "
                "view.")
    if rec := having("record"):
        where = f" (`{tier.records_path.name}`)" if tier.records_path else ""
        out += (f" Rows {', '.join(f'`{r}`' for r in rec)}: some seeds come from the tier's records file{where}, "
                "their run directories being gone.")
        bare = sorted({tier.records[(tier.aliases.get(r, r), s)].get("origin") or "unknown"
                       for r in rec for s in range(tier.seeds)
                       if tier.source.get((r, s)) == "record" and (r, s) not in tier.evidence})
        if bare:
            out += (" Records without a loss balance (the columns below then cover only the seeds that have one): "
                    + "; ".join(bare) + ".")
    return out


def _name(tier: Tier, row: str) -> str:
    """A row's name in a table; an alias says which plan row it reads."""
    return f"`{row}` (= `{tier.aliases[row]}`)" if row in tier.aliases else f"`{row}`"


def _comparison_table(tier: Tier, comps: list) -> list:
    lines = ["| comparison | seeds | Δ hard per seed | Δ easy | Δ medium | Δ hard | better in | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for row, against, d, v in comps:
        per = ", ".join(f"s{s} {_pp(x)}" for s, x in d["hard"]) or "none yet"
        k = sum(x > 0 for _, x in d["hard"])
        cells = [fmt_mean_std([x for _, x in d[m]], signed=True) for m in ("easy", "medium", "hard")]
        lines.append(f"| {_name(tier, row)} vs {_name(tier, against)} | {len(d['hard'])}/{tier.seeds} | {per} | "
                     f"{' | '.join(cells)} | {k}/{len(d['hard'])} | {v} |")
    return lines


def _mean_of_known(values: list, fmt: str) -> str:
    """Mean of the values that are known (not NaN), formatted; n/a when none is."""
    known = [v for v in values if not math.isnan(v)]
    return format(sum(known) / len(known), fmt) if known else "n/a"


def _evidence_table(tier: Tier, rows: list) -> list:
    lines = ["| row | hard AP | final box:obj loss ratio | final obj gain scale | positives in the last epoch | "
             "positives per face | faces with no positive |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ev = [tier.evidence[(r, s)] for s in range(tier.seeds) if (r, s) in tier.evidence]
        hard = [v["hard"] for v in tier.values.get(r, {}).values()]
        cell = {k: _mean_of_known([e[k] for e in ev], ".3g") for k in ("box_obj_ratio", "obj_gain_scale", "positives")}
        ppf = _mean_of_known([e["positives_per_face"] for e in ev], ".2f")
        none = _mean_of_known([e["no_positive"] * 100 for e in ev], ".1f")
        none = none if none == "n/a" else none + " %"
        if ppf == "n/a" and (static := assigner_positives(tier, r)) is not None:  # no run: the assigner alone
            ppf, none = f"{static['positives_per_face']:.2f} (a)", f"{static['no_positive'] * 100:.1f} % (a)"
        lines.append(f"| {_name(tier, r)} | {fmt_mean_std(hard)} | {cell['box_obj_ratio']} | {cell['obj_gain_scale']} | {cell['positives']} "
                     f"| {ppf} | {none} |")
    return lines


def _size_table(tier: Tier, rows: list) -> list:
    per_row = {}
    for r in rows:
        runs = [tier.sizes[(r, s)] for s in range(tier.seeds) if (r, s) in tier.sizes]
        if runs:
            per_row[r] = runs
    if not per_row:
        return ["(no run with kept predictions yet)"]
    first = next(iter(per_row.values()))[0]
    labels, faces = [b["label"] for b in first], [b["faces"] for b in first]
    lines = ["| row | seeds | " + " | ".join(f"hard AP, h {lb} px ({n} faces)" for lb, n in zip(labels, faces))
             + " | recall, h < 8 px |", "|---|---|" + "---|" * (len(labels) + 1)]
    for r, runs in per_row.items():
        cells = [fmt_mean_std([run[i]["ap"] for run in runs]) for i in range(len(labels))]
        lines.append(f"| {_name(tier, r)} | {len(runs)} | " + " | ".join(cells) + f" | {fmt_mean_std([run[0]['recall'] for run in runs])} |")
    return lines


def verdict_lines(claims: list, tiers: list) -> list:
    """One Markdown bullet per claim: its verdict in each tier (for the README summary)."""
    out = []
    for c in claims:
        per = "; ".join(f"{t.name}: {_claim_tier(c, t)[0]}" for t in tiers)
        out.append(f"- Claim {c.id} ({c.text.split(';')[0].rstrip('.')}): {per}")
    return out


def claims_markdown(claims: list, tiers: list, command: str) -> str:
    lines = ["# The practitioner's claims, measured", "",
             "Each claim of the study this project follows, checked against paired runs of study v2 "
             "(same seed = same initialisation and data order; Δ in percentage points of WIDER AP on the synthetic "
             "val set). Verdicts per comparison: *reproduced* when every seed agrees with the claim by more than "
             f"{BAND * 100:.0f} pp (`same`: |mean Δ| <= {BAND * 100:.0f} pp; `little`: better in every seed by at most "
             f"{LITTLE * 100:.0f} pp), *refuted* when every seed contradicts it, *inconclusive* otherwise, *pending* "
             "until every seed of the tier has run. A claim combines its comparisons (`all` or `any` of them).", "",
             f"- Written by `{command}` on {datetime.datetime.now().isoformat(timespec='seconds')}",
             "- Tiers: " + "; ".join(f"{t.name}: `{t.plan_path}` ({t.seeds} seeds)" for t in tiers), "",
             "| claim | expects | " + " | ".join(t.name for t in tiers) + " |",
             "|---|---|" + "---|" * len(tiers)]
    results = {(c.id, t.name): _claim_tier(c, t) for c in claims for t in tiers}
    for c in claims:
        lines.append(f"| {c.id}. {c.text} | {c.expect} ({c.rule}) | "
                     + " | ".join(results[(c.id, t.name)][0] for t in tiers) + " |")
    for c in claims:
        lines += ["", f"## Claim {c.id}", "", f"> {c.text}", ""]
        if c.why:
            lines += [f"**Our reading of the evidence:** {c.why}", ""]
        for t in tiers:
            v, comps = results[(c.id, t.name)]
            lines += [f"### {t.name}: {v}", ""]
            if not comps:
                lines += ["No row of this claim is in this tier's plan.", ""]
                continue
            rows = sorted({x for row, against, _, _ in comps for x in (row, against)})
            lines += _comparison_table(t, comps) + [""]
            src = _sources(t, rows)
            if src:
                lines += [src.strip(), ""]
            lines += ["Loss balance at the end of training (mean over the seeds that ran here; positives per face "
                      "and faces with no positive: the final weights' assignment on the un-augmented training "
                      "images, `yolo_ext.ablate.positives`; `(a)`: from the assigner alone, for a row without a "
                      "run directory whose assigner reads no prediction, so its positives do not depend on the "
                      "weights):", ""]
            lines += _evidence_table(t, rows) + [""]
            if c.sizes:
                lines += ["Hard AP by face height (`yolo_ext.widerface.sizes`: faces outside the bucket ignored, "
                          "unmatched detections counted only in their own height's bucket):", ""]
                lines += _size_table(t, rows) + [""]
    return "\n".join(lines) + "\n"


def write_claims(claims: list, tiers: list, path, command: str) -> Path:
    return atomic_write(Path(path), claims_markdown(claims, tiers, command).encode())
