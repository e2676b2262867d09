"""Issue 8's detection benchmark: the judge against regressions, noise and missing data.

`measure_detection(bench, runs, scenarios, noise_levels)` runs each scenario of
`scenarios.SCENARIOS` `runs` times on the bench stack under steady load (>= 500 req/s
through HAProxy), records every analysis window as JSON lines (`windows.jsonl`, one per
window, with both judges' verdicts; `runs.jsonl`, one per release) in a directory under
/tmp, replays the same windows through a Flagger-style absolute-threshold judge, and
returns one Figure per scenario plus the latency-noise figure that justifies the floor.
`make bench-analysis` runs it in full (5 runs per scenario); `make bench` runs the short
form (1 run per scenario, no dedicated noise levels).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from benchmarks.analysis.live import (
    RunResult,
    policy_applied,
    provider_of,
    put_old_version,
    record_dir,
    run_once,
    wait_for_series,
)
from benchmarks.analysis.report import (
    Judged,
    NoisePoint,
    RunFacts,
    deadline_seconds,
    judge_flagger,
    judge_ours,
    noise_figure,
    noise_point,
    scenario_figure,
)
from benchmarks.analysis.scenarios import (
    CONFIDENCE,
    FULL_RUNS,
    POWER,
    SCENARIOS,
    SHORT_RUNS,
    SHORT_SCENARIOS,
    Scenario,
    detection_policy,
)
from benchmarks.figures import Figure, achieved_rate
from benchmarks.judges import FlaggerPolicy, baseline_for, flagger_check, pair_to_json
from benchmarks.load import MIN_RATE, RATE, WORKERS, under_load, warm_up
from benchmarks.stack import SERVICE, STACK, BenchStack
from runbooks.core.analysis import judge
from runbooks.core.model import Target, Weights
from runbooks.core.state import SamplePair
from runbooks.local.load import Load
from runbooks.local.services import deploy_color
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.session import current_settings
from samples.options import Faults

NOISE_LEVELS_MS = (3, 28)  # dedicated healthy pairs at ~5 ms and ~30 ms p95 (full run)
NOISE_SECONDS = 30.0
NOISE_WINDOW_SECONDS = 5.0


def say(message: str) -> None:
    """Progress, on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_detection(
    bench: BenchStack,
    runs: int = FULL_RUNS,
    scenarios: Sequence[Scenario] = SCENARIOS,
    noise_levels: Sequence[int] = NOISE_LEVELS_MS,
) -> list[Figure]:
    """The matrix, one figure per scenario, then the latency-noise figure."""
    out = record_dir(
        Path(os.environ["BENCH_RECORD_DIR"]) if "BENCH_RECORD_DIR" in os.environ else None
    )
    seed = int(time.time())
    rng = random.Random(seed)
    say(f"recording windows to {out} (seed {seed})")
    figures: list[Figure] = []
    noise: dict[str, list[NoisePoint]] = {}
    with policy_applied(bench, detection_policy()), _files(out) as (windows_out, runs_out):
        for scenario in scenarios:
            say(f"detection: {scenario.name} x{runs}")
            results, rates = _run_scenario(bench, scenario, runs, rng)
            facts = [_facts(r, rate, scenario) for r, rate in zip(results, rates, strict=True)]
            figure, lines = _scenario(scenario, results, facts, out, seed)
            _write(windows_out, runs_out, results, lines)
            achieved = {f"run_{i}": r for i, r in enumerate(rates)}
            figures.append(under_load(figure, achieved, _rate(scenario)))
            if scenario.kind == "noise":
                noise["noise_scenario_own_latency"] = _noise_points(results)
        for added in noise_levels:
            say(f"latency noise: two healthy colors at +{added} ms")
            noise[f"healthy_pair_added_{added}ms"] = _healthy_pair(bench, added)
    policy = detection_policy()
    effect = current_settings(STACK).rollout.thresholds.p95_latency_increase_percent / 100
    floor = float(policy["thresholds"]["p95LatencyFloorMs"])
    figures.append(noise_figure(noise, effect, floor))
    return figures


def measure_detection_short(bench: BenchStack) -> list[Figure]:
    """The short form inside `make bench`: one run of each kind of scenario (noise, the
    smallest error increase, +40 % at 30 ms, provider outage, missing series), no
    dedicated noise pairs."""
    short = [s for s in SCENARIOS if s.name in SHORT_SCENARIOS]
    return measure_detection(bench, SHORT_RUNS, short, ())


def _workers(scenario: Scenario) -> int:
    """Enough threads for the load's rate at the slowest color's latency, 1.5 times over
    (each thread makes its own client: hundreds of them take seconds to start)."""
    seconds = scenario.new_latency_ms / 1000 + 0.01
    return max(WORKERS, math.ceil(_rate(scenario) * seconds * 1.5))


def _rate(scenario: Scenario) -> float:
    """What the load asks during `scenario`."""
    return scenario.rate if scenario.rate is not None else RATE


def _run_scenario(
    bench: BenchStack, scenario: Scenario, runs: int, rng: random.Random
) -> tuple[list[RunResult], list[float]]:
    load = Load(bench.load_url, _rate(scenario), _workers(scenario)).start()
    results: list[RunResult] = []
    try:
        warm_up()
        for index in range(runs):
            result = run_once(bench, scenario, index, rng, _tag(scenario))
            say(f"  run {index + 1}: {result.outcome} ({len(result.windows)} windows)")
            results.append(result)
    finally:
        hits = load.stop()
    rates = [round(achieved_rate(hits, r.started, r.ended), 1) for r in results]
    return results, rates


def _tag(scenario: Scenario) -> str:
    return scenario.name.replace("_", "-").replace(".", "-")


def _facts(result: RunResult, rate: float, scenario: Scenario) -> RunFacts:
    onset = result.outage.at if result.outage is not None else result.onset
    return RunFacts(
        result.outcome,
        result.plan,
        onset,
        result.decided,
        result.windows,
        rate,
        scenario.old.error_rate,
        scenario.new.error_rate,
    )


def _scenario(
    scenario: Scenario,
    results: Sequence[RunResult],
    facts: Sequence[RunFacts],
    out: Path,
    seed: int,
) -> tuple[Figure, list[dict[str, Any]]]:
    ours, theirs, lines, rows = [], [], [], []
    for result, fact in zip(results, facts, strict=True):
        policy = FlaggerPolicy(threshold=fact.plan.limits.failure_limit + 1)
        deadline = deadline_seconds(fact, CONFIDENCE, POWER)
        mine, replay = judge_ours(fact, deadline)
        flagger = judge_flagger(fact, policy, deadline)
        ours.append(mine)
        theirs.append(flagger)
        agrees = replay.verdict.value == result.outcome or (
            result.outcome == "rolled-back" and replay.verdict.value == "rolled-back"
        )
        rows.append(_row(result, fact, mine, flagger, deadline, agrees))
        lines += _window_lines(result, fact, policy)
    details = {
        "kind": scenario.kind,
        "old_faults": scenario.old.__dict__,
        "new_faults": scenario.new.__dict__,
        "runs": rows,
        "recorded_in": str(out),
        "seed": seed,
        "flagger_style": "success rate >= 99% and p99 <= 500 ms per window; failed checks "
        "(query errors and no values included) never reset; rollback at failureLimit + 1",
    } | scenario.notes
    return scenario_figure(scenario.name, scenario.kind, ours, theirs, details), lines


def _row(
    result: RunResult, fact: RunFacts, mine: Judged, flagger: Judged, deadline: float, agrees: bool
) -> dict[str, Any]:
    first = result.windows[0] if result.windows else None  # both colors serve in it
    base_p95 = first.pair.baseline.p95_seconds if first is not None else None
    new_p95 = first.pair.canary.p95_seconds if first is not None else None
    return {
        "release": result.release_id,
        "outcome": result.outcome,
        "achieved_rps": fact.rate,
        "deadline_seconds": round(deadline, 2),
        "ours": mine.__dict__,
        "flagger_style": flagger.__dict__,
        "replay_agrees": agrees,
        "windows": len(result.windows),
        "first_window_p95_ms": {
            "old": None if base_p95 is None else round(base_p95 * 1000, 2),
            "new": None if new_p95 is None else round(new_p95 * 1000, 2),
        },
        "outage": None if result.outage is None else result.outage.__dict__,
    }


def _window_lines(result: RunResult, fact: RunFacts, policy: FlaggerPolicy) -> list[dict[str, Any]]:
    plan, lines = fact.plan, []
    for window in result.windows:
        thresholds = plan.thresholds_for(plan.steps[window.step])
        weights = Weights.to_new(plan.new_color, window.weight)
        measured = judge(window.pair.baseline, window.pair.canary, thresholds, window.at, weights)
        ok, why = flagger_check(window.pair, policy)
        lines.append(
            {
                "scenario": result.scenario,
                "run": result.index,
                "release": result.release_id,
                "step": window.step,
                "weight": window.weight,
                "at": window.at,
                "pair": pair_to_json(window.pair),
                "ours": [
                    {"metric": m.metric, "phase": m.phase.value, "message": m.message}
                    for m in measured
                ],
                "flagger_style": {"passed": ok, "why": why},
            }
        )
    return lines


class _files:
    """windows.jsonl and runs.jsonl in `out`, open for the block."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def __enter__(self) -> tuple[TextIO, TextIO]:
        self.windows = (self.out / "windows.jsonl").open("a", encoding="utf-8")
        self.runs = (self.out / "runs.jsonl").open("a", encoding="utf-8")
        return self.windows, self.runs

    def __exit__(self, *exc: object) -> None:
        self.windows.close()
        self.runs.close()


def _write(
    windows_out: TextIO,
    runs_out: TextIO,
    results: Sequence[RunResult],
    lines: Sequence[dict[str, Any]],
) -> None:
    for line in lines:
        windows_out.write(json.dumps(line) + "\n")
    for result in results:
        runs_out.write(
            json.dumps(
                {
                    "scenario": result.scenario,
                    "run": result.index,
                    "release": result.release_id,
                    "outcome": result.outcome,
                    "onset": result.onset,
                    "decided": result.decided,
                    "restored": result.restored,
                    "outage": None if result.outage is None else result.outage.__dict__,
                    "old_version": result.old_version,
                    "new_version": result.new_version,
                }
            )
            + "\n"
        )
    windows_out.flush()
    runs_out.flush()


def _noise_points(results: Sequence[RunResult]) -> list[NoisePoint]:
    """The noise scenario's windows as the judge saw them (the old color's last window with
    traffic stands in for it at 100 %): same latency on both sides, by construction."""
    points = []
    for result in results:
        plan, reference = result.plan, None
        for window in result.windows:
            min_requests = plan.thresholds.min_requests
            base, reference = baseline_for(window.pair.baseline, reference, min_requests)
            thresholds = plan.thresholds_for(plan.steps[window.step])
            pair = SamplePair(base, window.pair.canary)
            point = noise_point(pair, thresholds, window.weight)
            if point is not None:
                points.append(point)
    return points


def _healthy_pair(bench: BenchStack, added_ms: int) -> list[NoisePoint]:
    """Both colors on one version with the same added latency, 50/50, sampled in
    consecutive windows as the provider measures them."""
    version = f"1.99.{added_ms}-noise"
    faults = Faults(added_latency_ms=added_ms)
    active = put_old_version(bench, version, faults)
    settings = current_settings(STACK)
    deploy_color(settings, None, SERVICE, active.other, version, faults)
    router = HaproxyRouter(bench.ends.admin_socket)
    scenario = Scenario("noise-pair", "noise", faults, faults, new_latency_ms=added_ms)
    load = Load(bench.load_url, RATE, _workers(scenario)).start()
    points: list[NoisePoint] = []
    try:
        router.set_weights(SERVICE, Weights.to_new(active.other, 50))
        warm_up()
        wait_for_series(active.other, version)
        provider = provider_of(settings)
        thresholds = settings.rollout.thresholds
        end = time.time() + NOISE_SECONDS
        while time.time() + NOISE_WINDOW_SECONDS <= end:
            time.sleep(NOISE_WINDOW_SECONDS)
            base = provider.sample(Target(SERVICE, active, version), NOISE_WINDOW_SECONDS)
            new = provider.sample(Target(SERVICE, active.other, version), NOISE_WINDOW_SECONDS)
            point = noise_point(SamplePair(base, new), thresholds, 50)
            if point is not None:
                points.append(point)
    finally:
        router.set_weights(SERVICE, Weights.all_on(active))
        hits = load.stop()
    if hits and achieved_rate(hits, hits[0].at, hits[-1].at) < MIN_RATE:
        say(f"  the load fell under {MIN_RATE:g} req/s during the noise pair")
    return points
