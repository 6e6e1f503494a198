"""Shared timing for the benchmarks: the compared sides interleaved over rounds, median and spread per side.

Load from other processes on a shared machine shifts every side of a round alike, so ratios of medians measured in
one interleaved run stay comparable where absolute times drift. Each side reports its median and its interquartile
range (p25-p75) over the rounds.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, List, Sequence, Tuple


def interleaved(fns: Sequence[Callable[[], object]], rounds: int, warmup: int = 1) -> List[List[float]]:
    """Seconds per call of each function over ``rounds`` rounds; one round calls every function once, in order."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return times


def summary(ts: Sequence[float]) -> Tuple[float, float, float]:
    """(median, p25, p75) of a list of times."""
    if len(ts) < 2:
        return ts[0], ts[0], ts[0]
    q = statistics.quantiles(ts, n=4, method="inclusive")
    return statistics.median(ts), q[0], q[2]


def fmt(ts: Sequence[float], scale: float = 1e3, unit: str = "ms") -> str:
    """'12.3 ms [11.9-13.0]': median [p25-p75]."""
    m, lo, hi = summary(ts)
    return f"{m * scale:7.2f} {unit} [{lo * scale:.2f}-{hi * scale:.2f}]"
