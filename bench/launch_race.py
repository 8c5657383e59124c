"""Lost launches with a concurrent refresher: 100 `labdock new` from the CLI while another Labdock
process refreshes (restores) in a loop. Every launch must end READY and stay listed."""

from __future__ import annotations

from bench.common import Bench, Figure, standalone
from tests.support.launch_race import run_race

LAUNCHES = 100


def run(bench: Bench) -> list[Figure]:
    result = run_race([f"race-{i}" for i in range(LAUNCHES)], bench.image, parallel=3)
    note = f"{result.refreshes} refreshes meanwhile"
    if result.lost:
        note += "; first: " + result.lost[0]
    return [
        Figure(
            "lost launches with a concurrent refresher",
            f"{len(result.lost)} of {result.launched}",
            f"0 of {result.launched}",
            not result.lost,
            note,
        )
    ]


if __name__ == "__main__":
    standalone(run)
