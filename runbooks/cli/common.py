"""What every verb shares: options, turning errors into exit codes, JSON and human output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from stackspec.errors import RunbookError
from stackspec.stackfile import StackFileError

StackOption = Annotated[str, typer.Option("--stack", "-s", help="Stack name (local, dev, ...).")]
ServiceOption = Annotated[str, typer.Option("--service", help="Service of the stack.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output for CI.")]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Take over a stale lock (its process is gone).")
]

console = Console(stderr=False, highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def exits_cleanly() -> Iterator[None]:
    """Turn the project's errors into their message on stderr and their exit code."""
    try:
        yield
    except StackFileError as err:
        fail(str(err), err.exit_code)
    except RunbookError as err:
        fail(str(err), err.exit_code)
    except TimeoutError as err:  # a server or a check missed its deadline
        fail(str(err), 1)


def fail(message: str, code: int) -> NoReturn:
    """Print `message` on stderr and exit with `code`."""
    errors.print(f"error: {message}", markup=False)
    raise typer.Exit(code=code)


def emit_json(payload: Any) -> None:
    """Print one JSON document on stdout."""
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def say(text: str) -> None:
    """Print a line for people (rich markup allowed)."""
    console.print(text)


def guarded(action: Callable[[], Any]) -> Any:
    """Run `action` with the project's errors turned into exit codes."""
    with exits_cleanly():
        return action()
