"""What every benchmark shares: figures, goals, one table format, repeated runs, JSON results.

A benchmark module has `NAME`, `TITLE`, `async def measure() -> Figures` (one run's raw figures,
flat) and `def rows(median: Figures) -> list[Row]` (the table, with a goal beside each figure that
has one). `run_benchmark` runs it N times, takes the median of each figure across runs (timings on
a shared machine move between runs; the median is what a reader should quote), judges the goals on
the medians, prints the table and writes every run's raw figures to `bench/results/<name>.json`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

RESULTS = Path(__file__).resolve().parent / "results"

Figures = dict[str, float]


@dataclass
class Row:
    subject: str
    metric: str
    figure: str
    goal: str = ""
    meets: bool | None = None  # None: a baseline or context figure, judged against nothing

    @property
    def verdict(self) -> str:
        return "" if self.meets is None else ("meets" if self.meets else "MISSES")


class Benchmark(Protocol):
    NAME: str
    TITLE: str

    def measure(self) -> Coroutine[Any, Any, Figures]: ...

    def rows(self, median: Figures) -> list[Row]: ...


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, nearest rank; NaN for no values (the table then says so)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def sig(value: float, digits: int = 2) -> str:
    """Round to what the measurement supports: two significant digits, whole numbers from 100 up."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def run_benchmark(bench: Benchmark, runs: int) -> list[Row]:
    raw: list[Figures] = []
    for n in range(runs):
        started = time.monotonic()
        raw.append(asyncio.run(bench.measure()))
        print(f"  {bench.NAME}: run {n + 1}/{runs} took {time.monotonic() - started:.0f} s", flush=True)
    median = {key: statistics.median(run[key] for run in raw) for key in raw[0]}
    spread = {key: [min(run[key] for run in raw), max(run[key] for run in raw)] for key in raw[0]}
    rows = bench.rows(median)
    print_table(f"{bench.TITLE} — median of {runs} run{'s' if runs > 1 else ''}", rows)
    RESULTS.mkdir(exist_ok=True)
    payload: dict[str, Any] = {
        "benchmark": bench.NAME,
        "title": bench.TITLE,
        "runs": raw,
        "median": median,
        "range": spread,
        "table": [{**asdict(row), "verdict": row.verdict} for row in rows],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = RESULTS / f"{bench.NAME}.json"
    path.write_text(json.dumps(payload, indent=2, default=_json_safe))
    print(f"(raw figures of every run: {path.relative_to(RESULTS.parents[1])})", flush=True)
    return rows


def print_table(title: str, rows: list[Row]) -> None:
    header = ["subject", "metric", "figure", "goal", "verdict"]
    cells = [[r.subject, r.metric, r.figure, r.goal, r.verdict] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _json_safe(value: Any) -> Any:
    return str(value)


async def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `check` until it holds or `timeout` passes; whether it held (benchmarks never hang)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
    return True
