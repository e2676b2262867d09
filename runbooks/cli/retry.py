"""`runbook retry`: start a release that ended rolled back again (Argo's `retry rollout`).

    runbook retry -s local --service trading-api [--output text|json|jsonl] [--force]

The journal keeps what the release was started with: its version(s), release steps,
migration, configuration version and drill faults. `retry` starts a NEW release with the
same (a new release id, from the first step: the old color serves all traffic after a
rollback, so there is no step to continue from), through `runbook rollout` itself, so its
checks, output and exit codes are rollout's. It refuses (exit 2, nothing done) when the
service's latest release is still running (`runbook resume` continues it), was promoted
(nothing to retry), or was left aborted: its rollback did not complete, and a new release
must not start over half-undone steps (`runbook rollback --yes` finishes it first).
"""

from __future__ import annotations

from typing import Any

import typer

from runbooks.cli.app import app
from runbooks.cli.common import ForceOption, JsonOption, ServiceOption, StackOption, exits_cleanly
from stackspec.errors import BadInput


@app.command(
    "retry",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def retry(
    ctx: typer.Context,
    stack: StackOption,
    service: ServiceOption,
    force: ForceOption = False,
    as_json: JsonOption = False,
) -> None:
    """Start the service's rolled-back release again from its first step, as it was started.

    Any other option (--output jsonl, ...) is passed to `runbook rollout`.
    """
    with exits_cleanly():
        argv = rollout_argv(stack, service)
    extra = [*ctx.args, *(["--force"] if force else []), *(["--json"] if as_json else [])]
    root = ctx.find_root()
    command = root.command.get_command(root, "rollout")  # type: ignore[attr-defined]
    with command.make_context("rollout", [*argv, *extra], parent=root) as again:
        command.invoke(again)


def rollout_argv(stack: str, service: str) -> list[str]:
    """The `runbook rollout` arguments that start the service's latest release again;
    BadInput when it is running, promoted, aborted, the rollback of a promoted release
    (naming the rollout of the version it reverted), or there is none."""
    from runbooks.core.state import Outcome, ReleaseState
    from runbooks.session import current_settings, open_journal, require_service

    require_service(current_settings(stack), service)
    journal = open_journal(stack)
    at = f"-s {stack} --service {service}"
    running = journal.current(stack, service)
    if running is not None:
        raise BadInput(
            f"release {running.id} of {service} is still running",
            hint=f"`runbook resume {at}` continues it; `runbook status -s {stack}` shows it",
        )
    record = journal.latest(stack, service)
    if record is None:
        raise BadInput(
            f"{service} has no release on {stack} to retry",
            hint=f"`runbook rollout {at} --version VERSION` starts one",
        )
    reverted = record.plan.get("reverts")
    if reverted:  # its version is the old one: starting it again would deploy that
        was = journal.release(str(reverted)).version
        raise BadInput(
            f"release {record.id} of {service} rolled back promoted release {reverted} "
            f"({was}): nothing to retry",
            hint=f"`runbook rollout {at} --version {was}` releases {was} again",
        )
    if record.outcome == Outcome.PROMOTED:
        raise BadInput(
            f"release {record.id} of {service} was promoted: nothing to retry",
            hint=f"`runbook rollout {at} --version VERSION` releases another version",
        )
    if record.outcome != Outcome.ROLLED_BACK:
        raise BadInput(
            f"release {record.id} of {service} ended {record.outcome}: its rollback did not "
            "complete, so it cannot start again over half-undone steps",
            hint=f"`runbook rollback {at} --yes` finishes its rollback, then retry",
        )
    plan = record.plan
    steps = ReleaseState.from_dict(dict(plan["state"])).plan.release_steps
    members = plan.get("members") or ()
    argv = ["-s", stack]
    if members:
        for member in members:
            argv += ["--service", f"{member['service']}={member['version']}"]
            argv += [f"--fault={member['service']}:{f}" for f in _faults(member.get("faults"))]
    else:
        argv += ["--service", service, "--version", record.version]
        argv += [f"--fault={f}" for f in _faults(plan.get("faults"))]
    for step in steps:
        argv += ["--step", step]
    if plan.get("migration"):
        argv += ["--migration", str(plan["migration"])]
    if plan.get("config_version"):
        argv += ["--config-version", str(plan["config_version"])]
    return argv


def _faults(recorded: Any) -> list[str]:
    """Recorded drill faults ({"error_rate": 0.2, "fail_health": True}) as --fault items."""
    items = []
    for name, value in dict(recorded or {}).items():
        flag = name.replace("_", "-")
        if value is True:
            items.append(flag)
        elif value is not False and value is not None:
            items.append(f"{flag}={value}")
    return items
