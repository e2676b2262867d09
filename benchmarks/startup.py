"""How fast the CLI answers: `runbook --help`, `--version`, a verb's help, a refusal of bad
input and `status`, each the median of RUNS runs of the console script, against `python -c
pass` measured in the same run (`python -m benchmarks startup`, and in `make bench`).

Targets (issue 13): under 500 ms for help, version and refusals, under 1 s for `status`,
as absolute wall time on this machine; the ratio to the bare interpreter is printed beside
it, with the load average, as wall times move with whatever else the machine runs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.figures import Figure

RUNS = 7
# name -> (arguments, limit in ms, exit status expected)
COMMANDS: dict[str, tuple[tuple[str, ...], float, int]] = {
    "runbook --help": (("--help",), 500.0, 0),
    "runbook --version": (("--version",), 500.0, 0),
    "runbook rollout --help": (("rollout", "--help"), 500.0, 0),
    "refusal: unknown service": (
        ("rollout", "-s", "local", "--service", "nosuch", "--version", "1.0"),
        500.0,
        2,
    ),
    "refusal: unknown stack": (("status", "-s", "nosuch"), 500.0, 2),
    "runbook status -s local": (("status", "-s", "local"), 1000.0, 0),
}


def runbook_command() -> list[str]:
    """The console script next to this interpreter (what a user runs), else its entry point."""
    script = Path(sys.executable).parent / "runbook"
    if script.exists():
        return [str(script)]
    found = shutil.which("runbook")
    return [found] if found else [sys.executable, "-c", "from runbooks.cli import main; main()"]


def time_ms(argv: Sequence[str], env: dict[str, str], expect: int) -> float:
    """Wall time of one run of `argv` in ms; RuntimeError if it exits other than `expect`."""
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    took = (time.perf_counter() - began) * 1000
    if done.returncode != expect:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-300:]!r}")
    return took


def startup_figure(
    name: str, samples_ms: Sequence[float], baseline_ms: float, limit_ms: float, load: float
) -> Figure:
    """The median of `samples_ms` against the bare interpreter's median; passes under the
    limit."""
    median = round(statistics.median(samples_ms), 1)
    return Figure(
        name=f"CLI start: {name}",
        value=median,
        unit="ms",
        baseline=round(baseline_ms, 1),
        comparison="median wall time vs `python -c pass` in the same run",
        target=f"< {limit_ms:.0f} ms",
        passed=median < limit_ms,
        details={
            "runs": len(samples_ms),
            "min_ms": round(min(samples_ms), 1),
            "max_ms": round(max(samples_ms), 1),
            "load_average_1m": round(load, 2),
        },
    )


def measure_startup(runs: int = RUNS) -> list[Figure]:
    """Every COMMANDS entry and the bare interpreter, interleaved run by run (so a burst of
    load hits them alike), in a private state dir."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as state:
        env = {**os.environ, "RUNBOOK_STATE_DIR": state}
        env.pop("RUNBOOK_STACK", None)
        bare = [sys.executable, "-c", "pass"]
        runbook = runbook_command()
        samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
        baseline: list[float] = []
        time_ms([*runbook, "--help"], env, 0)  # warm the bytecode cache: not measured
        for _ in range(runs):
            baseline.append(time_ms(bare, env, 0))
            for name, (args, _limit, expect) in COMMANDS.items():
                samples[name].append(time_ms([*runbook, *args], env, expect))
    load = os.getloadavg()[0]
    base = statistics.median(baseline)
    return [
        startup_figure(name, samples[name], base, limit, load)
        for name, (_args, limit, _expect) in COMMANDS.items()
    ]
