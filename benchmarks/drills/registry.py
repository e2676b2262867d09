"""The drills by name, each `run(stack, short) -> (figures, details)`, imported when run."""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable
from typing import Any

from benchmarks.drills.harness import DrillStack, machine_load
from benchmarks.drills.result import DrillResult, Measure

Run = Callable[[DrillStack, bool], tuple[dict[str, Measure], dict[str, Any]]]

# name -> module of benchmarks.drills with a `run`; in the order `make drills` runs them
# (the crash drill first, on a stack no other drill has disturbed).
DRILLS: dict[str, str] = {
    "crash": "crash",
    "metrics-outage": "metrics_outage",
    "router-outage": "router_outage",
    "load": "load",
    "data": "data",
    "concurrency": "concurrency",
    "bad-input": "bad_input",
    "secrets": "secrets",
}


def run_drill(name: str, stack: DrillStack, short: bool) -> DrillResult:
    """Run drill `name`; a drill that raises is a failed result carrying the error."""
    started = time.time()
    try:
        run: Run = importlib.import_module(f"benchmarks.drills.{DRILLS[name]}").run
        figures, details = run(stack, short)
    except Exception as err:  # a broken drill is reported as one, the others still run
        figures = {"completed": Measure(0, "drill", "runs to its end", False)}
        details = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()[-2000:]}
    finally:
        stack.proxy.restore()
        stack.proxy.release()
    return DrillResult(
        drill=name,
        figures=figures,
        started=started,
        seconds=time.time() - started,
        load_average=machine_load(),
        short=short,
        details=details,
    )
