"""`runbook rehearse`: the whole release story on the local stack — the README's main command.

    runbook rehearse [--keep] [--rate 100] [--report-dir reports] [--json]
    runbook rehearse --stack staging [--router aws-alb|kubernetes]   (against stand-ins)

Brings the local stack up, puts steady load on it through the edge and places orders
through HAProxy, releases a healthy version (promoted, its migration contracted after the
bake) and a faulty one (rolled back automatically, its migration's expand reverted), then
trading-api and market-data together twice: healthy (both promoted) and with a faulty
market-data (both rolled back). Prints a summary and writes `reports/rehearsal.html` and
`reports/rehearsal.json`. Exit 0 when each healthy release was promoted, each faulty one
rolled back, every order the users were told was accepted is still in the database, and
every order event published during the releases together has exactly one fill row
(events produced vs rows written); else 1.

With an aws stack (`--stack staging`, `--stack production`) the same two releases run with
that stack's own wiring (aws-alb router, cloudwatch metrics, Pulumi driver deploying on
Kubernetes, RDS snapshot before the migration, CloudFront invalidation) AGAINST STAND-INS:
a moto server for AWS, a Kubernetes API stand-in, a private PostgreSQL and simulated load.
Traffic moves on the ALB stand-in's listener (`--router aws-alb`, the default) or on the
HTTPRoute of the Kubernetes API stand-in (`--router kubernetes`, the stack's own router).
It proves the wiring and the engine, not AWS or the cluster (runbooks/rehearsal/staging.py).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from runbooks.cli.app import app
from runbooks.cli.common import STACK_ENV, JsonOption, emit_json, exits_cleanly, say
from stackspec.errors import BadInput, ExitCode
from stackspec.model import Substrate
from stackspec.stackfile import load_stack

if TYPE_CHECKING:  # the rehearsal imports every server's client: only when it runs
    from runbooks.rehearsal.run import Result


@app.command("rehearse")
def rehearse(
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the local stack (or the stand-ins' files) up.")
    ] = False,
    rate: Annotated[float, typer.Option("--rate", min=10, help="Requests per second.")] = 200,
    report_dir: Annotated[Path, typer.Option("--report-dir")] = Path("reports"),
    stack: Annotated[
        str,
        typer.Option(
            "--stack",
            "-s",
            envvar=STACK_ENV,
            show_envvar=True,
            help="A local-substrate stack, or an aws stack (staging, production) rehearsed "
            "against stand-ins: moto server, Kubernetes API stand-in, simulated load.",
        ),
    ] = "local",
    router: Annotated[
        str | None,
        typer.Option(
            "--router",
            help="aws stacks: move traffic on the ALB listener (aws-alb, default) or on the "
            "HTTPRoute (kubernetes) of the stand-ins.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Rehearse a healthy release and an automatic rollback on the local stack.

    Then trading-api and market-data are released together, healthy and with a faulty
    consumer, and every order event is checked to have exactly one fill row.

    For an aws stack (staging, production) the releases run with that stack's own wiring
    against stand-ins: a moto server (ALB weights, CloudWatch, RDS snapshots, CloudFront), a
    Kubernetes API stand-in for deploys, a private PostgreSQL and simulated load. That
    proves the wiring and the engine, not AWS, IAM or the cluster.
    """
    quiet = as_json
    with exits_cleanly():
        rehearsal = _rehearsal_for(stack, router)
        from runbooks.cli.view import TurnPrinter
        from runbooks.rehearsal.run import Options

        options = Options(stack=stack, rate=rate, report_dir=report_dir, keep=keep)
        result = rehearsal(
            options, (lambda _: None) if quiet else say, None if quiet else TurnPrinter(say)
        )
    if as_json:
        emit_json(result.timeline.as_dict() | {"report": str(result.html), "ok": result.ok})
    else:
        _summary(result)
    raise typer.Exit(code=ExitCode.OK if result.ok else ExitCode.FAILED)


def _rehearsal_for(stack: str, router: str | None) -> Callable[..., Result]:
    """The local rehearsal, or for an aws stack the one against stand-ins (dev dependencies:
    moto, jsonpatch) moving traffic with `router`."""
    if load_stack(stack).substrate is not Substrate.AWS:
        if router is not None:
            raise BadInput(
                "--router is for the stand-in rehearsal of an aws stack",
                hint="the local stack's router is its HAProxy: drop --router",
            )
        from runbooks.rehearsal.run import rehearse as run_rehearsal

        return run_rehearsal
    try:
        from runbooks.rehearsal.staging import rehearse as rehearse_against_stand_ins
    except ImportError as err:
        raise BadInput(
            f"the stand-in rehearsal needs {err.name}, a dev dependency",
            hint="uv sync --group dev",
        ) from None
    return partial(rehearse_against_stand_ins, router=router or "aws-alb")


def _summary(result: Result) -> None:
    say("")
    say("[bold]rehearsal summary[/bold]")
    for r in result.timeline.releases:
        detect = (
            ""
            if r.detected_after_seconds is None
            else (
                f", fault detected after {r.detected_after_seconds:.1f}s, "
                f"traffic restored after {r.restored_after_seconds or 0:.1f}s"
            )
        )
        say(
            f"  {r.version}: {r.outcome} in {r.seconds:.1f}s; steps {r.steps}; "
            f"{r.failed_requests}/{r.requests} requests failed{detect}"
        )
        say(f"    verdicts: {'; '.join(r.verdicts) or 'none'}")
        if r.active_after:
            colors = ", ".join(f"{name} on {color}" for name, color in r.active_after.items())
            say(f"    after: {colors}")
        if r.events is not None:
            e = r.events
            verdict = (
                "none lost, none doubled"
                if e.exact
                else f"[bold red]{e.lost} lost, {e.doubled} doubled[/bold red]"
            )
            say(f"    order events produced {e.produced}, fill rows written {e.written}: {verdict}")
    say(f"report: {result.html} (data: {result.json})")
