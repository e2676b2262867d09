"""A Grafana dashboard and Prometheus alert rules for a stack's releases, as data.

The dashboard reads only the engine's own metrics (runbooks.engine_metrics: every expr
names one of its EXPORTED series). The alert rules cover two things:
- the engine: a release rolled back or aborted, paused too long, or an engine that stopped
  deciding in the middle of a release (killed: `runbook resume` or `rollback` is needed);
- the services, with the stack's rollout policy's thresholds: availability under
  `availabilityPercent`, one color's error rate more than `errorRateIncreasePp` above the
  other's, one color's p95 more than `p95LatencyIncreasePercent` above the other's (both
  over `p95LatencyFloorMs`), and for consumers the lag over `maxConsumerLag` when the policy
  has it. They use the metric names the sample services export, the same the default
  analysis queries read (`http_requests_total`, `http_request_duration_seconds_bucket`,
  `consumer_lag`).
"""

from __future__ import annotations

from typing import Any

from runbooks.engine_metrics import (
    LAST_TURN,
    PHASE,
    STEP,
    STEPS,
    TERMINAL_PHASES,
    THRESHOLD,
    VALUE,
    VERDICT,
    WEIGHT,
)
from stackspec.model import Service, StackSettings

RATE_WINDOW = "5m"
PAUSED_FOR = "30m"
ENDED_SHOWN_SECONDS = 3600  # a rolled-back or aborted release alerts for an hour after its
# last turn: the textfile keeps the phase after the release ends, so without it they fire forever
SILENT_SECONDS = 300  # an engine decides at least every analysis interval; 5 min is dead


def grafana_dashboard(stack: str, settings: StackSettings) -> dict[str, Any]:
    """A dashboard (Grafana's JSON model) of the engine's metrics, one row per service."""
    panels: list[dict[str, Any]] = []
    y = 0
    for service in settings.services:
        sel = f'stack="{stack}",service="{service.name}"'
        panels.append(_row(service.name, y))
        y += 1
        panels += [
            _panel(
                "Phase",
                "state-timeline",
                f"max by (phase) ({PHASE}{{{sel}}}) == 1",
                0,
                y,
                8,
                legend="{{phase}}",
            ),
            _panel("Step", "stat", f"{STEP}{{{sel}}}", 8, y, 4, legend="step"),
            _panel("Steps", "stat", f"{STEPS}{{{sel}}}", 12, y, 4, legend="of"),
            _panel(
                "Weights",
                "timeseries",
                f"{WEIGHT}{{{sel}}}",
                16,
                y,
                8,
                legend="{{color}}",
                unit="percent",
            ),
        ]
        y += 8
        panels += [
            _panel(
                "Check verdicts",
                "state-timeline",
                f"max by (check, verdict) ({VERDICT}{{{sel}}}) == 1",
                0,
                y,
                12,
                legend="{{check}}: {{verdict}}",
            ),
            _panel(
                "Checks against thresholds",
                "timeseries",
                f"{VALUE}{{{sel}}}",
                12,
                y,
                12,
                legend="{{check}}",
                extra=(f"{THRESHOLD}{{{sel}}}", "{{check}} threshold"),
            ),
        ]
        y += 8
    return {
        "title": f"Releases: {stack}",
        "uid": f"runbook-{stack}"[:40],
        "tags": ["runbook", stack],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [_datasource_variable()]},
        "panels": panels,
    }


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "type": "datasource",
        "query": "prometheus",
        "label": "Prometheus",
    }


def _row(title: str, y: int) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
    }


def _panel(
    title: str,
    kind: str,
    expr: str,
    x: int,
    y: int,
    w: int,
    legend: str,
    unit: str | None = None,
    extra: tuple[str, str] | None = None,
) -> dict[str, Any]:
    targets = [
        {
            "refId": "A",
            "expr": expr,
            "legendFormat": legend,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
        }
    ]
    if extra is not None:
        targets.append(
            {
                "refId": "B",
                "expr": extra[0],
                "legendFormat": extra[1],
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
            }
        )
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": 8},
        "targets": targets,
    }
    if unit is not None:
        panel["fieldConfig"] = {"defaults": {"unit": unit}, "overrides": []}
    return panel


def alert_rules(stack: str, settings: StackSettings) -> dict[str, Any]:
    """Prometheus alerting rules (a rule file's YAML as data) for the stack."""
    return {
        "groups": [
            {"name": f"runbook-{stack}-releases", "rules": _engine_rules(stack)},
            {
                "name": f"runbook-{stack}-services",
                "rules": [r for s in settings.services for r in _service_rules(stack, s, settings)],
            },
        ]
    }


def _engine_rules(stack: str) -> list[dict[str, Any]]:
    sel = f'stack="{stack}"'
    terminal = "|".join(TERMINAL_PHASES)
    recent = f" and on (stack, service) (time() - {LAST_TURN}{{{sel}}} < {ENDED_SHOWN_SECONDS})"
    return [
        _alert(
            "RunbookReleaseRolledBack",
            f'({PHASE}{{{sel},phase="rolled-back"}} == 1)' + recent,
            "warning",
            "{{ $labels.service }}: the release was rolled back",
            "See `runbook status -s " + stack + " --service {{ $labels.service }}` and "
            "`runbook history`; the report: `runbook report <id> -s " + stack + "`.",
        ),
        _alert(
            "RunbookReleaseAborted",
            f'({PHASE}{{{sel},phase="aborted"}} == 1)' + recent,
            "critical",
            "{{ $labels.service }}: a rollback failed and the release needs a person",
            "`runbook status -s " + stack + " --service {{ $labels.service }}`, then "
            "`runbook rollback` to retry it.",
        ),
        _alert(
            "RunbookReleasePaused",
            f'{PHASE}{{{sel},phase="paused"}} == 1',
            "warning",
            "{{ $labels.service }}: the release has been paused for " + PAUSED_FOR,
            "Resume, promote or roll it back (`runbook status -s " + stack + " --service "
            "{{ $labels.service }}` says why it paused).",
            duration=PAUSED_FOR,
        ),
        _alert(
            "RunbookEngineSilent",
            f"(time() - {LAST_TURN}{{{sel}}} > {SILENT_SECONDS})"
            f' and on (stack, service) ({PHASE}{{{sel},phase!~"{terminal}"}} == 1)',
            "critical",
            "{{ $labels.service }}: no engine has decided for " + str(SILENT_SECONDS) + " s "
            "in the middle of a release",
            "The engine was killed: `runbook resume` or `runbook rollback` (with --force if "
            "the lock is stale).",
        ),
    ]


def _service_rules(stack: str, service: Service, settings: StackSettings) -> list[dict[str, Any]]:
    if service.kind == "consumer":
        return _consumer_rules(stack, service, settings)
    t = settings.rollout.thresholds
    sel = f'service="{service.name}"'
    labels = {"stack": stack, "service": service.name}
    rules = [
        _alert(
            "ServiceAvailabilityUnderPolicy",
            f"(1 - {_error_ratio(sel)}) * 100 < {t.availability_percent:g}",
            "critical",
            f"{service.name}: availability under the policy's {t.availability_percent:g}%",
            f"Over the last {RATE_WINDOW}; `runbook status -s {stack} --service {service.name}` "
            "shows any release in progress.",
            labels=labels,
        )
    ]
    floor = t.p95_latency_floor_ms / 1000
    factor = 1 + t.p95_latency_increase_percent / 100
    for color, other in (("blue", "green"), ("green", "blue")):
        mine, theirs = f'{sel},color="{color}"', f'{sel},color="{other}"'
        rules.append(
            _alert(
                f"ServiceErrorRateAboveOtherColor_{color}",
                f"{_error_ratio(mine)} - {_error_ratio(theirs)}"
                f" > {t.error_rate_increase_pp / 100:g}",
                "warning",
                f"{service.name}: {color}'s error rate is more than "
                f"{t.error_rate_increase_pp:g}pp above {other}'s",
                "The policy's errorRateIncreasePp; the engine judges the same during a release.",
                labels=labels | {"color": color},
            )
        )
        rules.append(
            _alert(
                f"ServiceLatencyAboveOtherColor_{color}",
                f"{_p95(mine)} > {floor:g} and {_p95(mine)} > {factor:g} * {_p95(theirs)}",
                "warning",
                f"{service.name}: {color}'s p95 latency is more than "
                f"{t.p95_latency_increase_percent:g}% above {other}'s",
                "The policy's p95LatencyIncreasePercent, above its p95LatencyFloorMs.",
                labels=labels | {"color": color},
            )
        )
    return rules


def _error_ratio(selector: str) -> str:
    """Failed requests over all requests of the selected series, as a 0..1 ratio."""
    failed = f'sum(rate(http_requests_total{{{selector},code=~"5.."}}[{RATE_WINDOW}]))'
    total = f"sum(rate(http_requests_total{{{selector}}}[{RATE_WINDOW}]))"
    return f"({failed} / {total})"


def _p95(selector: str) -> str:
    """The p95 latency (seconds) of the selected series, without labels (so two compare)."""
    buckets = f"rate(http_request_duration_seconds_bucket{{{selector}}}[{RATE_WINDOW}])"
    return f"histogram_quantile(0.95, sum by (le) ({buckets}))"


def _consumer_rules(stack: str, service: Service, settings: StackSettings) -> list[dict[str, Any]]:
    limit = getattr(settings.rollout.thresholds, "max_consumer_lag", None)
    if limit is None:
        return []
    return [
        _alert(
            "ConsumerLagOverPolicy",
            f'max(consumer_lag{{service="{service.name}"}}) > {limit:g}',
            "warning",
            f"{service.name}: consumer lag over the policy's {limit:g} records",
            "The policy's maxConsumerLag; check the consumers of both colors.",
            labels={"stack": stack, "service": service.name},
            duration="5m",
        )
    ]


def _alert(
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    duration: str = "2m",
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, **(labels or {})},
        "annotations": {"summary": summary, "description": description},
    }
