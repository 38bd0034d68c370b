"""`make bench` / `python -m bench [ack|polling|scale]`: run the benchmarks."""

from __future__ import annotations

import importlib
import sys

NAMES = ("ack", "polling", "scale")


def main() -> int:
    chosen = sys.argv[1:] or list(NAMES)
    for name in chosen:
        if name not in NAMES:
            print(f"unknown benchmark {name!r}; choose from {', '.join(NAMES)}", file=sys.stderr)
            return 2
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
