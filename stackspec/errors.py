"""Every error the runbooks raise on purpose, in one hierarchy.

    RunbookError                 exit 1 unless said otherwise; carries a hint
    ├── BadInput                 exit 2: bad flags, unknown service, unknown plug-in name
    │   └── (stackspec.stackfile.StackFileError is also exit 2, PolicyConfigError with it)
    ├── LockedError              exit 4: another run holds the stack's lock
    ├── RouterError              a traffic router could not set or verify weights
    ├── StepError                a release step (migration, cache bump, ...) failed
    ├── DriverError              the stack driver could not read or write stack state
    └── JournalError             the journal is unreadable or inconsistent

Each error says what happened and what to do next (`hint`).
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base of the runbooks' errors."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\n  hint: {hint}" if hint else message)


class BadInput(RunbookError):
    """The caller asked for something that cannot be: nothing was changed."""

    exit_code = 2


class UnknownName(BadInput):
    """A registry was asked for a plug-in it does not have."""

    def __init__(self, area: str, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown {area} '{name}'", hint=f"choose one of: {', '.join(sorted(known))}"
        )


class LockedError(RunbookError):
    """The stack is locked by another run."""

    exit_code = 4


class RouterError(RunbookError):
    """Weights could not be set, or what is live differs from what was asked."""


class StepError(RunbookError):
    """A release step failed to apply or to undo."""


class DriverError(RunbookError):
    """Stack state could not be read or written."""


class JournalError(RunbookError):
    """The journal could not be read or written."""
