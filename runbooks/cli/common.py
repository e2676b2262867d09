"""What every verb shares: options, turning errors into exit codes, JSON and human output.

The CLI is the last boundary before a user: `exits_cleanly` (applied to every verb by the
application's group, see runbooks.cli.app) turns the project's errors into their message
and exit code, and maps what a library raised that no adapter caught (Kubernetes API,
AWS, PostgreSQL, Kafka, HTTP, Redis, Pulumi, the file system) into a ServiceError of one
line, secrets masked. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from stackspec.errors import BadInput, ExitCode, RunbookError, ServiceError

if TYPE_CHECKING:
    from rich.console import Console

    console: Console  # made on first use (module __getattr__): rich costs ~80 ms to import
    errors: Console

from runbooks.cli.early_lock import STACK_ENV as STACK_ENV  # -s/--stack when not given

StackOption = Annotated[
    str,
    typer.Option(
        "--stack",
        "-s",
        envvar=STACK_ENV,
        show_envvar=True,
        help="Stack name (local, dev, ...).",
    ),
]
NO_STACK = f"Pass -s NAME (e.g. -s local) or export {STACK_ENV}=NAME."
ServiceOption = Annotated[str, typer.Option("--service", help="Service of the stack.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output for CI.")]
YesOption = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do it without asking (needed when not on a terminal)."),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Take over a stale lock (its process is gone).")
]


def __getattr__(name: str) -> Any:
    """`console` (stdout) and `errors` (stderr), the rich consoles, made when first asked for."""
    if name not in ("console", "errors"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    made = globals().get(name)
    if made is None:
        from rich.console import Console

        made = globals()[name] = Console(stderr=name == "errors", highlight=False, soft_wrap=True)
    return made


# The top-level module of a library's exceptions -> what failed, and what to check.
LIBRARIES: dict[str, tuple[str, str]] = {
    "kubernetes": (
        "Kubernetes API",
        "check the cluster is reachable with the kubeconfig's context (`kubectl get ns`)",
    ),
    "urllib3": (
        "Kubernetes API",
        "check the cluster is reachable with the kubeconfig's context (`kubectl get ns`)",
    ),
    "botocore": ("AWS", "check the credentials and region (`aws sts get-caller-identity`)"),
    "boto3": ("AWS", "check the credentials and region (`aws sts get-caller-identity`)"),
    "psycopg": ("PostgreSQL", "check the database is up and the stack's DSN is right"),
    "cimpl": ("Kafka", "check the brokers are up and reachable"),
    "confluent_kafka": ("Kafka", "check the brokers are up and reachable"),
    "httpx": ("HTTP", "check the endpoint is up and the URL in the stack's settings"),
    "redis": ("Redis", "check the cache is up and the stack's URL is right"),
    "pulumi": ("Pulumi", "check the Pulumi CLI is installed and logged in"),
}
MAX_DETAIL = 300


def from_library(err: BaseException) -> RunbookError | None:
    """`err` as a project error if a library (see LIBRARIES) or the OS raised it, else None."""
    for cls in type(err).__mro__:
        known = LIBRARIES.get(cls.__module__.partition(".")[0])
        if known is not None:
            service, hint = known
            return ServiceError(service, f"{type(err).__name__}: {_detail(err)}", hint=hint)
    if isinstance(err, OSError) and not isinstance(err, TimeoutError):
        where = f"{err.filename}: " if err.filename else ""
        return ServiceError(
            "file system",
            f"{where}{err.strerror or one_line(err)}",
            hint="check that the path exists, is a directory where one is needed, and is writable",
        )
    return None


def _detail(err: BaseException) -> str:
    """What went wrong in one line; for an API answer (Kubernetes' ApiException) its status,
    reason and the server's own message, which its first line of text leaves out."""
    status, reason = getattr(err, "status", None), getattr(err, "reason", None)
    if not isinstance(status, int) or not isinstance(reason, str):
        return one_line(err)
    try:
        said = json.loads(getattr(err, "body", None) or "{}").get("message", "")
    except (TypeError, ValueError, AttributeError):
        said = ""
    return one_line(Exception(f"{status} {reason}" + (f": {said}" if said else "")))


def one_line(err: BaseException) -> str:
    """The first non-empty line of `err`'s message, secrets masked, at most MAX_DETAIL long."""
    from runbooks.steps.redact import mask_url  # imports psycopg: only when an error is shown

    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = mask_url(lines[0]) if lines else type(err).__name__
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 3] + "..."


@contextmanager
def exits_cleanly() -> Iterator[None]:
    """Turn the project's errors, and the libraries' mapped by `from_library`, into their
    message on stderr and their exit code."""
    try:
        yield
    except RunbookError as err:
        fail(str(err), err.exit_code)
    except TimeoutError as err:  # a server or a check missed its deadline
        fail(one_line(err), ExitCode.FAILED)
    except Exception as err:
        mapped = from_library(err)
        if mapped is None:
            raise  # a bug: its traceback is what is needed to fix it
        fail(str(mapped), mapped.exit_code)


def fail(message: str, code: int) -> NoReturn:
    """Print `message` on stderr (URL and DSN passwords masked) and exit with `code`."""
    from runbooks.steps.redact import mask_url

    typer.echo(f"error: {mask_url(message)}", err=True)  # plain text: no rich to import
    raise typer.Exit(code=int(code))


def confirm(action: str, yes: bool) -> None:
    """Go on when `yes`; on a terminal ask "`action`?" (no: exit 2); when not on a terminal
    refuse (exit 2, nothing done) naming the command to run again with --yes."""
    if yes:
        return
    if sys.stdin.isatty():
        if typer.confirm(f"{action}?", default=False, err=True):
            return
        raise BadInput(f"{action}: not confirmed; nothing was done")
    raise BadInput(
        f"{action} needs confirmation and this is not a terminal; nothing was done",
        hint=f"run `{again_with_yes()}`",
    )


def again_with_yes() -> str:
    """The command line being run, with --yes added (the verb's path when the arguments are
    not the console script's, as under a test runner)."""
    from typer._click.globals import get_current_context

    if sys.argv and sys.argv[0].rsplit("/", 1)[-1] == "runbook":
        return shlex.join(["runbook", *sys.argv[1:], "--yes"])
    ctx = get_current_context(silent=True)
    return f"{ctx.command_path if ctx else 'runbook'} ... --yes"


def emit_json(payload: Any) -> None:
    """Print one JSON document on stdout."""
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def say(text: str) -> None:
    """Print a line for people (rich markup allowed)."""
    __getattr__("console").print(text)


def guarded(action: Callable[[], Any]) -> Any:
    """Run `action` with the project's errors turned into exit codes."""
    with exits_cleanly():
        return action()
