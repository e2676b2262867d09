"""`python -m benchmarks [migrations]`: bring a private local stack up, measure, print JSON lines.

`startup` measures only how fast the CLI answers (benchmarks/startup.py), with no stack up;
`all` measures it first, before the stack comes up.
`consumers` runs only issue 12's consumer release (benchmarks/consumer_release.py) on a rig
of its own; `all` runs it after issue 7's sections.

With no argument every section runs (`make bench`), issue 8's detection matrix in its short
form (one run per scenario) last; `migrations` runs only the sections of issue 7
(`make bench-migrations`); `analysis` runs issue 8's full matrix, 5 runs per scenario and
the latency-noise pairs (`make bench-analysis`). Each figure is printed to stdout as one
JSON object as soon as it is measured; progress goes to stderr. Exits 1 if any figure misses
its target, 0 otherwise, 2 for an unknown argument.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from benchmarks.analysis import measure_detection, measure_detection_short
from benchmarks.config_rollback import measure_config_rollback
from benchmarks.consumer_release import measure_consumer_release
from benchmarks.figures import Figure
from benchmarks.migrations import measure_orders_lost, measure_write_stall
from benchmarks.releases import measure_faulty_release, measure_healthy_release
from benchmarks.stack import BenchStack, bench_stack
from benchmarks.startup import measure_startup
from benchmarks.weights import measure_weight_changes

Section = Callable[[BenchStack], list[Figure]]
# The weight-change and config sections run first, while both colors still run the same
# healthy version; the faulty release last, as it leaves a faulty process on the idle color.
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("weight changes: runtime socket vs config reload", lambda b: [measure_weight_changes(b)]),
    ("config rollback time vs its target", lambda b: [measure_config_rollback(b.settings)]),
    ("healthy release vs no release", lambda b: [measure_healthy_release(b)]),
    ("faulty release: restore time and blast radius", measure_faulty_release),
)
# Issue 7, after the others: they add orders of their own and seed up to 1M rows.
MIGRATION_SECTIONS: tuple[tuple[str, Section], ...] = (
    ("orders kept: engine rollback (revert) vs backup restore", measure_orders_lost),
    ("writers' p99 during migration + backup at 1x/10x/100x data", measure_write_stall),
)
# Issue 8, last of all: it stops and restarts Prometheus and leaves either color on any
# version. The short form in `all`, the full matrix in `analysis`.
DETECTION_SHORT: tuple[tuple[str, Section], ...] = (
    ("detection matrix (short): our judge vs a Flagger-style one", measure_detection_short),
)
DETECTION_FULL: tuple[tuple[str, Section], ...] = (
    ("detection matrix: our judge vs a Flagger-style one, latency noise", measure_detection),
)
# Issue 12: a consumer release on a rig of its own (broker, Redis, PostgreSQL, market-data).
CONSUMER_SECTIONS: tuple[tuple[str, Section], ...] = (
    (
        "consumer release rolled back under >= 500 events/s: lost, doubled, lag, restore",
        lambda _: measure_consumer_release(),
    ),
)
GROUPS = {
    "all": SECTIONS + MIGRATION_SECTIONS + CONSUMER_SECTIONS + DETECTION_SHORT,
    "migrations": MIGRATION_SECTIONS,
    "analysis": DETECTION_FULL,
    "startup": (),
    "consumers": (),  # its own rig, no isolated stack (STACKLESS)
}
# Measured with no stack up (before it comes up in `all`): the CLI's start alone.
STARTUP = ("CLI start: --help, --version, refusals, status vs python -c pass", measure_startup)
STACKLESS: dict[str, tuple[str, Callable[[], list[Figure]]]] = {
    "all": STARTUP,
    "startup": STARTUP,
    "consumers": (CONSUMER_SECTIONS[0][0], measure_consumer_release),
}


def say(message: str) -> None:
    """Progress, on stderr so stdout stays JSON lines."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run a group of sections on one isolated stack; the exit status says whether all passed."""
    args = sys.argv[1:] if argv is None else argv
    group = args[0] if args else "all"
    if group not in GROUPS or len(args) > 1:
        print(f"usage: python -m benchmarks [{' | '.join(GROUPS)}]", file=sys.stderr)
        return 2
    figures: list[Figure] = []
    if group in STACKLESS:
        title, measure = STACKLESS[group]
        say(title)
        for figure in measure():
            print(json.dumps(figure.as_json()), flush=True)
            figures.append(figure)
    if not GROUPS[group]:
        return 0 if figures and all(f.passed for f in figures) else 1
    say("bringing an isolated local stack up")
    with bench_stack() as bench:
        for title, section in GROUPS[group]:
            say(title)
            for figure in section(bench):
                print(json.dumps(figure.as_json()), flush=True)
                figures.append(figure)
        say("tearing the stack down")
    return 0 if figures and all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
