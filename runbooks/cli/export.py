"""`runbook export grafana|alerts`: dashboards and alert rules for a stack's releases.

runbook export grafana -s production [--out dashboards/production.json]
runbook export alerts  -s production [--out alerts/production.rules.yaml]

Both read the engine's metrics textfile (runbooks.engine_metrics: node_exporter's textfile
collector pointed at `<state dir>/metrics`); the alert rules also hold the stack's rollout
policy's thresholds over the services' own metrics (see runbooks.report.dashboards).
Without --out the document goes to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from runbooks.cli.app import EXIT_CODES, app
from runbooks.cli.common import StackOption, exits_cleanly, say
from runbooks.session import current_settings

export_app = typer.Typer(
    name="export",
    help="Export a Grafana dashboard or Prometheus alert rules for a stack's releases.\n\n"
    + EXIT_CODES,
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(export_app, name="export")

OutOption = Annotated[
    Path | None, typer.Option("--out", help="The file to write (default: stdout).")
]


@export_app.command("grafana")
def grafana(stack: StackOption, out: OutOption = None) -> None:
    """Write a Grafana dashboard (JSON) of the engine's release metrics."""
    from runbooks.report.dashboards import grafana_dashboard

    with exits_cleanly():
        settings = current_settings(stack)
        text = json.dumps(grafana_dashboard(stack, settings), indent=2, sort_keys=True) + "\n"
        _write(text, out, "dashboard")


@export_app.command("alerts")
def alerts(stack: StackOption, out: OutOption = None) -> None:
    """Write Prometheus alert rules (YAML) for the policy's thresholds and the engine."""
    from runbooks.report.dashboards import alert_rules

    with exits_cleanly():
        settings = current_settings(stack)
        text = yaml.safe_dump(alert_rules(stack, settings), sort_keys=False, width=1000)
        _write(text, out, "alert rules")


def _write(text: str, out: Path | None, what: str) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    say(f"{what}: {out}")
