"""Run every benchmark: ``python -m tests.perf [--quick] [--json] [NAME ...]``.

Each ``tests/perf/bench_*.py`` module exposes ``run(quick: bool) -> Iterator[Figure]``. Figures are
printed as they come, each beside its anchor measured in the same run, as a ratio; the exit code
is 1 when any figure misses its goal.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    parser.add_argument("--json", action="store_true", help="one JSON object per figure per line")
    parser.add_argument("names", nargs="*", help="only these benchmarks (e.g. ingest ranking)")
    args = parser.parse_args()
    here = Path(__file__).parent
    modules = sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )
    if args.names:
        modules = [m for m in modules if m.removeprefix("bench_") in args.names]
    missed = 0
    for name in modules:
        module = importlib.import_module(f"tests.perf.{name}")
        if not args.json:
            print(f"# {name.removeprefix('bench_')}", flush=True)
        try:
            for figure in module.run(quick=args.quick):
                print(figure.as_json() if args.json else figure.as_text(), flush=True)
                missed += not figure.ok
        except Exception:
            traceback.print_exc()
            return 2  # a crash, unlike a missed goal (1), means the benchmark itself is broken
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
