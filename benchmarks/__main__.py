"""`python -m benchmarks`: bring a private local stack up, measure, print JSON lines.

Each figure is printed to stdout as one JSON object as soon as it is measured; progress
goes to stderr. Exits 1 if any figure misses its target, 0 otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from benchmarks.figures import Figure
from benchmarks.releases import measure_faulty_release, measure_healthy_release
from benchmarks.stack import BenchStack, bench_stack
from benchmarks.weights import measure_weight_changes

Section = Callable[[BenchStack], list[Figure]]
# The weight-change section runs first, while both colors still run the same healthy
# version; the faulty release last, as it leaves a faulty process on the idle color.
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("weight changes: runtime socket vs config reload", lambda b: [measure_weight_changes(b)]),
    ("healthy release vs no release", lambda b: [measure_healthy_release(b)]),
    ("faulty release: restore time and blast radius", measure_faulty_release),
)


def say(message: str) -> None:
    """Progress, on stderr so stdout stays JSON lines."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> int:
    """Run every section on one isolated stack; the exit status says whether all passed."""
    figures: list[Figure] = []
    say("bringing an isolated local stack up")
    with bench_stack() as bench:
        for title, section in SECTIONS:
            say(title)
            for figure in section(bench):
                print(json.dumps(figure.as_json()), flush=True)
                figures.append(figure)
        say("tearing the stack down")
    return 0 if figures and all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
