"""`python -m benchmarks.drills [name ...] [--short]`: run drills on a private local stack.

Every drill runs when no name is given. One JSON line per drill on stdout as soon as it is
done, then a summary table on stderr; progress on stderr. Exits 0 when every figure met its
target, 1 otherwise, 2 for an unknown drill name.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from benchmarks.drills.harness import drill_stack
from benchmarks.drills.registry import DRILLS, run_drill
from benchmarks.drills.result import DrillResult


def say(message: str) -> None:
    """Progress, on stderr so stdout stays JSON lines."""
    print(f"[drills {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def summary(results: Sequence[DrillResult]) -> Table:
    """One row per figure: drill, figure, value, target, pass, load average."""
    table = Table(title="drills")
    for column in ("drill", "figure", "value", "target", "pass", "seconds", "load 1/5/15m"):
        table.add_column(column)
    for result in results:
        for name, measure in result.figures.items():
            table.add_row(
                result.drill,
                name,
                f"{measure.value} {measure.unit}",
                measure.target,
                "yes" if measure.passed else "NO",
                f"{result.seconds:.0f}",
                " ".join(f"{x:g}" for x in result.load_average),
            )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the drills, print the lines and the table."""
    args = list(sys.argv[1:] if argv is None else argv)
    short = "--short" in args
    names = [a for a in args if a != "--short"] or list(DRILLS)
    unknown = [n for n in names if n not in DRILLS]
    if unknown:
        print(
            f"unknown drill(s) {', '.join(unknown)}; drills: {', '.join(DRILLS)}",
            file=sys.stderr,
        )
        return 2
    results = []
    say("bringing a private local stack up")
    with drill_stack() as stack:
        for name in names:
            say(f"{name}{' (short)' if short else ''}")
            result = run_drill(name, stack, short)
            print(json.dumps(result.as_json()), flush=True)
            results.append(result)
        say("tearing the stack down")
    Console(stderr=True).print(summary(results))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
