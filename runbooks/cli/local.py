"""`runbook local up|down|status`: the local rehearsal stack, as processes on loopback.

    runbook local up [--stack local] [--json]      start what is not running healthy; wait
    runbook local status [--stack local] [--json]  each part with its port, pid and health
    runbook local down [--stack local] [--json]    drain HAProxy, stop every part
    runbook local load [--stack local] --rate 50 [--for 120]   traffic through HAProxy

Exit codes: 0 done (status: every part healthy), 1 a part did not come up or is unhealthy,
2 bad stack file or a stack whose substrate is not local.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from runbooks.cli.app import app
from runbooks.cli.common import STACK_ENV, guarded
from runbooks.session import current_settings
from stackspec.errors import ExitCode
from stackspec.model import StackSettings

if TYPE_CHECKING:  # the servers' clients (redis, psycopg, Kafka): imported by the verbs
    from runbooks.local import stack

local_app = typer.Typer(
    name="local",
    help="Bring the local rehearsal stack up and down.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(local_app, name="local")

StackOption = Annotated[
    str,
    typer.Option(
        "--stack",
        "-s",
        envvar=STACK_ENV,
        help="A stack whose substrate is local.",
        show_envvar=True,
    ),
]
T = TypeVar("T")
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
StateOption = Annotated[
    Path | None, typer.Option("--state-dir", help="Override the stack's local.stateDir.")
]


@local_app.command("up")
def up(
    stack_name: StackOption = "local", as_json: JsonOption = False, state_dir: StateOption = None
) -> None:
    """Start every part of the stack that is not already running and healthy."""
    from runbooks.local.endpoints import state_dir_of

    settings = _settings(stack_name)
    from runbooks.local import stack  # the servers' clients: once the stack is known

    result = guarded(lambda: stack.up(settings, state_dir or state_dir_of(settings)))
    _show(result, as_json)
    if not result.healthy:
        raise typer.Exit(code=ExitCode.FAILED)


@local_app.command("status")
def status(
    stack_name: StackOption = "local", as_json: JsonOption = False, state_dir: StateOption = None
) -> None:
    """Show each part with its port, pid and health; exit 1 unless all are healthy."""
    from runbooks.local.endpoints import state_dir_of

    state = state_dir or guarded(lambda: state_dir_of(_settings(stack_name)))
    from runbooks.local import stack  # the servers' clients: once the stack is known

    result = guarded(lambda: stack.status(state))
    _show(result, as_json)
    if not result.healthy:
        raise typer.Exit(code=ExitCode.FAILED)


@local_app.command("down")
def down(
    stack_name: StackOption = "local", as_json: JsonOption = False, state_dir: StateOption = None
) -> None:
    """Drain HAProxy, stop every recorded part, and check no port still listens."""
    from runbooks.local.endpoints import state_dir_of

    state = state_dir or guarded(lambda: state_dir_of(_settings(stack_name)))
    from runbooks.local import stack  # the servers' clients: once the stack is known

    stopped = guarded(lambda: stack.down(state))
    if as_json:
        typer.echo(json.dumps({"state_dir": str(state), "stopped": stopped}))
    else:
        typer.echo(f"stopped {len(stopped)} part(s): {', '.join(stopped) or 'none'}")


@local_app.command("load")
def load(
    rate: Annotated[float, typer.Option("--rate", min=0.1, help="Requests per second.")],
    stack_name: StackOption = "local",
    seconds: Annotated[
        float | None, typer.Option("--for", min=0.1, help="Seconds (default: until stopped).")
    ] = None,
    path: Annotated[
        str, typer.Option("--path", help="Path requested through HAProxy.")
    ] = "/orders",
    as_json: JsonOption = False,
) -> None:
    """Put steady HTTP traffic on the stack through HAProxy (what a rollout's analysis needs);
    print the rate achieved and the errors when done (--for, Ctrl-C or SIGTERM). Exit 1
    when every request failed (the stack is not up), naming `runbook local up`."""
    from runbooks.local.endpoints import endpoints
    from runbooks.local.load import run_load

    url = endpoints(_settings(stack_name)).haproxy_url + "/" + path.lstrip("/")
    if not as_json:
        until = f"for {seconds:g}s" if seconds else "until stopped (Ctrl-C)"
        typer.echo(f"load: {rate:g} requests/s to {url} {until}")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    done = run_load(url, rate, seconds, stop)
    if as_json:
        typer.echo(json.dumps({"url": url, "rate": round(done.rate, 2)} | vars(done)))
    else:
        typer.echo(f"load: {done.line()}")
    if done.requests and done.failed == done.requests:  # nothing answered: the stack is down
        typer.echo(
            f"error: every request to {url} failed\n"
            f"  hint: is the stack up? `runbook local up -s {stack_name}` starts it; "
            f"`runbook local status -s {stack_name}` shows its parts",
            err=True,
        )
        raise typer.Exit(code=ExitCode.FAILED)


def _settings(stack_name: str) -> StackSettings:
    # With the release state the local driver recorded: `up` keeps what was released.
    settings: StackSettings = guarded(lambda: current_settings(stack_name))
    return settings


def _show(result: stack.StackStatus, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    if not result.parts:
        typer.echo(f"nothing running (state dir {result.state_dir})")
        return
    typer.echo(f"{'part':<20} {'port':>6} {'pid':>8}  health")
    for part in result.parts:
        health = "healthy" if part.healthy else f"UNHEALTHY: {part.problem} (log {part.log_path})"
        typer.echo(f"{part.name:<20} {part.port:>6} {part.pid or '-':>8}  {health}")
