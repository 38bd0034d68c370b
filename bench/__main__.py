"""`make bench` / `python -m bench [name ...] [--runs N]`: run the benchmarks, one table each.

A benchmark is a module in this package with `NAME`, `TITLE`, `measure()` and `rows()` (see
`bench/common.py`); adding one is one line in `BENCHMARKS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import run_benchmark

BENCHMARKS = (
    "ack",
    "polling",
    "scale",
    "drain",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHMARKS)} (default all)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark; the table shows medians")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown or args.runs < 1:
        parser.error(
            f"unknown benchmark {unknown}; choose from {', '.join(BENCHMARKS)}" if unknown else "--runs >= 1"
        )
    missed = 0
    for name in args.names or BENCHMARKS:
        rows = run_benchmark(importlib.import_module(f"bench.{name}"), args.runs)  # type: ignore[arg-type]
        missed += sum(1 for row in rows if row.meets is False)
    print(f"\n{missed} goal{'s' if missed != 1 else ''} missed" if missed else "\nevery goal met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
