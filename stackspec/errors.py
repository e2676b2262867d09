"""Every error the project raises on purpose, in one tree, and the exit code of each.

    RunbookError                   1 FAILED unless a subclass says otherwise; carries a hint
    ├── BadInput                   2 BAD_INPUT: the request cannot be; nothing was changed
    │   ├── UnknownName            a registry has no plug-in of that name
    │   ├── StackFileError         stackspec.stackfile: a stack file, key by key
    │   │   └── PolicyConfigError  infra.policies.config: the policy pack's config file
    │   ├── LocalStackRefused      infra.program: `pulumi up` on the local stack
    │   ├── PolicyPackMissing      infra.deploygate: a deploy without its policy pack
    │   ├── ConfigFileError        runbooks.config.files: a service's versioned config
    │   └── SecretFileError        samples.credential_files: a credentials file
    ├── LockedError                4 LOCKED: another run holds the stack's lock
    ├── RouterError                a traffic router could not set or verify weights
    ├── StepError                  a release step (migration, cache bump, ...) failed
    │   ├── MigrationFailed        runbooks.migrations.operations
    │   └── ConfigNotTaken         runbooks.config.targets: a color did not take its config
    ├── DriverError                the stack driver could not read, write or deploy the stack
    │   ├── LaunchError            runbooks.local.process: a local server did not start
    │   └── ProbeFailed            runbooks.local.health: a health probe's answer (read by
    │                              `local status`, shown as a part's problem)
    ├── JournalError               the journal (or the state dir it lives in) is unusable
    ├── ServiceError               a library's error mapped where it crossed into the CLI:
    │                              Kubernetes API, AWS, PostgreSQL, Kafka, HTTP, a file
    ├── ConversionBug              runbooks.config.convert: a config converter is wrong
    ├── CheckovMissing             infra.gates.checkov: `make validate` exits 3 for it
    └── LinterMissing              infra.gates.workflows: `make lint-workflows` exits 2 for it

The exit codes themselves are `ExitCode`: every verb exits with one of its members and the
help text is rendered from it. An outcome is not an error: a release rolled back exits
ROLLED_BACK (3) without raising. Errors that never reach a user (a metric query that
failed becomes an Error measurement, a bad field becomes a StackFileError problem) stay
private to their modules.

Each error says what happened and what to do next (`hint`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """How the `runbook` command ends; `meaning` is the help text's line for it."""

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    ROLLED_BACK = 3
    LOCKED = 4

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "done (promoted, rolled back by `runbook rollback`, or the command succeeded)",
    ExitCode.FAILED: "failed: an error, an aborted release, or a check that did not pass",
    ExitCode.BAD_INPUT: "bad input (bad flags, bad stack file, unknown name); nothing was changed",
    ExitCode.ROLLED_BACK: "rolled back: the release (rollout, resume, retry) ended rolled back",
    ExitCode.LOCKED: "locked: another run holds the stack's lock",
}


class RunbookError(Exception):
    """Base of the project's errors: `message`, `hint` (what to do next), `exit_code`."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\n  hint: {hint}" if hint else message)


class BadInput(RunbookError):
    """The caller asked for something that cannot be: nothing was changed."""

    exit_code = ExitCode.BAD_INPUT


class UnknownName(BadInput):
    """A registry was asked for a plug-in it does not have."""

    def __init__(self, area: str, name: str, known: list[str]) -> None:
        super().__init__(
            f"unknown {area} '{name}'", hint=f"choose one of: {', '.join(sorted(known))}"
        )


class LockedError(RunbookError):
    """The stack is locked by another run."""

    exit_code = ExitCode.LOCKED


class RouterError(RunbookError):
    """Weights could not be set, or what is live differs from what was asked."""


class StepError(RunbookError):
    """A release step failed to apply or to undo."""


class DriverError(RunbookError):
    """Stack state could not be read or written, or a deploy could not be carried out."""


class JournalError(RunbookError):
    """The journal could not be read or written."""


class ServiceError(RunbookError):
    """A service the runbooks talk to failed or could not be reached, and the adapter in
    between did not say more: the library's error, mapped to one line where it crossed
    into the CLI (`service` names what failed: "Kubernetes API", "AWS", "PostgreSQL", ...)."""

    def __init__(self, service: str, detail: str, hint: str = "") -> None:
        self.service = service
        super().__init__(f"{service}: {detail}", hint=hint)
