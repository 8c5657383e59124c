"""`python -m bench`: every benchmark against the real engine and test image; prints a table and writes
docs/benchmarks.md (figure, target, pass/miss per line). `python -m bench launch stop` runs a subset."""

from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Figure, bench_engine

SUITES = ("launch", "warm_launch", "stop", "cli", "launch_race", "cycles", "gpu_sampler", "ui", "remote")
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    figures: list[Figure] = []
    with bench_engine() as bench:
        for name in chosen:
            began = time.monotonic()
            module = importlib.import_module(f"bench.{name}")
            try:
                results = module.run(bench)
            except Exception as exc:  # one broken suite must not lose the others' figures
                results = [Figure(f"{name} suite", "error", "runs", False, str(exc).splitlines()[0][:200])]
            for figure in results:
                print(figure.line(), flush=True)
            figures.extend(results)
            print(f"  ({name}: {time.monotonic() - began:.0f} s)", flush=True)
    if not argv:
        write_doc(figures)
    return 0


def write_doc(figures: list[Figure]) -> None:
    rows = "\n".join(
        f"| {f.name} | {f.value} | {f.target} | {dict([(True, 'pass'), (False, 'miss'), (None, 'info')])[f.passed]} "
        f"| {f.note} |"
        for f in figures
    )
    plain = "\n".join(f.line() for f in figures)
    DOC.parent.mkdir(exist_ok=True)
    old = DOC.read_text() if DOC.exists() else ""
    notes = old.split("<!-- notes -->", 1)[1] if "<!-- notes -->" in old else "\n"
    DOC.write_text(
        "# Benchmarks\n\n"
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node() or 'this machine'} "
        f"({platform.machine()}, {os.cpu_count()} CPUs) by `scripts/bench`. Timings are ratios against a baseline\n"
        "measured in the same run where the target is a ratio.\n\n"
        "| figure | measured | target | result | notes |\n| --- | --- | --- | --- | --- |\n"
        f"{rows}\n\n```\n{plain}\n```\n\n<!-- notes -->{notes}"
    )
    print(f"wrote {DOC}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
