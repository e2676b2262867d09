"""The project's one error tree, and the CLI boundary that maps library errors onto it.

The tree is read from the source (ast), so the check needs no import of the Pulumi
program: every exception class the project defines either descends from RunbookError and
is drawn in stackspec/errors.py's docstring, or is listed below as private to its module.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import botocore.exceptions
import httpx
import psycopg
import pytest
import urllib3.exceptions
from confluent_kafka import KafkaError, KafkaException
from kubernetes.client.exceptions import ApiException
from typer.testing import CliRunner

import stackspec.errors
from runbooks.cli import VERBS
from runbooks.cli.app import app
from runbooks.cli.common import from_library
from runbooks.config.targets import ConfigNotTaken, KubernetesTarget
from stackspec.errors import BadInput, ExitCode, LockedError, RunbookError, ServiceError
from stackspec.model import Color
from stackspec.stackfile import StackFileError

for _verb in VERBS:
    importlib.import_module(f"runbooks.cli.{_verb}")

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("stackspec", "runbooks", "infra", "samples")
# Exceptions that never reach a user: each is caught in its own module and turned into data.
PRIVATE = {
    "KeyedError": "stackspec.model: becomes one problem of a StackFileError",
    "QueryFailed": "runbooks.metrics.prometheus: becomes an Error measurement",
    "TargetGroupNotFound": "runbooks.metrics.cloudwatch: becomes an Error measurement",
    "StaleRecord": "runbooks.partition_store: the partition router raises a RouterError",
    "Poison": "samples.market_data: the record is counted as a consumer error, committed past",
}
ROOTS = {"Exception", "BaseException", "RuntimeError", "ValueError", "OSError", "KeyError"}


def _exception_classes() -> dict[str, str]:
    """Every exception class the project defines: name -> the name of its first base."""
    bases: dict[str, str] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and node.bases:
                    base = node.bases[0]
                    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                    bases[node.name] = name
    errors: dict[str, str] = {}
    known = set(ROOTS)
    while True:  # a class is an exception if its base is one: follow until nothing is added
        new = {c: b for c, b in bases.items() if b in known and c not in errors}
        if not new:
            return errors
        errors.update(new)
        known.update(new)


def _descends_from_runbook_error(name: str, bases: dict[str, str]) -> bool:
    while name in bases:
        if name == "RunbookError":
            return True
        name = bases[name]
    return name == "RunbookError"


def test_every_project_error_is_in_the_tree_or_private() -> None:
    bases = _exception_classes()
    assert {"StackFileError", "LocalStackRefused", "PolicyConfigError"} <= set(bases)
    docstring = stackspec.errors.__doc__ or ""
    outside = sorted(
        name
        for name in bases
        if name not in PRIVATE and not _descends_from_runbook_error(name, bases)
    )
    assert outside == [], "outside the error tree (derive from RunbookError, or list in PRIVATE)"
    undrawn = sorted(n for n in bases if n not in PRIVATE and f" {n} " not in docstring)
    assert undrawn == [], "add these to the tree in stackspec/errors.py's docstring"


def test_no_bare_runtime_error_is_raised() -> None:
    raising = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for package in ("stackspec", "runbooks", "infra")
        for path in (ROOT / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", "") == "RuntimeError"
    ]
    assert raising == []


def test_exit_codes_of_the_branches() -> None:
    assert [(c.name, c.value) for c in ExitCode] == [
        ("OK", 0),
        ("FAILED", 1),
        ("BAD_INPUT", 2),
        ("ROLLED_BACK", 3),
        ("LOCKED", 4),
    ]
    assert RunbookError("x").exit_code is ExitCode.FAILED
    assert BadInput("x").exit_code is ExitCode.BAD_INPUT
    assert LockedError("x").exit_code is ExitCode.LOCKED
    assert issubclass(StackFileError, BadInput)


DSN_PASSWORD = "hunter2"


def _forbidden() -> ApiException:
    err = ApiException(status=403, reason="Forbidden")
    err.body = '{"kind": "Status", "message": "deployments.apps is forbidden", "code": 403}'
    return err


LIBRARY_ERRORS = [
    ("kubernetes", _forbidden(), "Kubernetes API", "403 Forbidden: deployments.apps is forbidden"),
    (
        "urllib3",
        urllib3.exceptions.MaxRetryError(None, "https://10.0.0.1:6443/api", "refused"),  # type: ignore[arg-type]
        "Kubernetes API",
        "Max retries",
    ),
    (
        "botocore-client",
        botocore.exceptions.ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "DescribeListeners"
        ),
        "AWS",
        "AccessDenied",
    ),
    ("botocore-core", botocore.exceptions.NoCredentialsError(), "AWS", "Unable to locate"),
    (
        "psycopg",
        psycopg.OperationalError(
            f"connection to postgresql://app:{DSN_PASSWORD}@db:5432/orders failed\nDETAIL: x"
        ),
        "PostgreSQL",
        "postgresql://app:***@db",
    ),
    (
        "confluent-kafka",
        KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down")),
        "Kafka",
        "broker down",
    ),
    ("httpx", httpx.ConnectError("connection refused"), "HTTP", "connection refused"),
    (
        "os",
        PermissionError(13, "Permission denied", "/var/lib/runbook"),
        "file system",
        "/var/lib/runbook: Permission denied",
    ),
]


@pytest.mark.parametrize(
    ("err", "service", "says"),
    [c[1:] for c in LIBRARY_ERRORS],
    ids=[c[0] for c in LIBRARY_ERRORS],
)
def test_library_errors_map_to_one_line(err: Exception, service: str, says: str) -> None:
    mapped = from_library(err)
    assert isinstance(mapped, ServiceError)
    assert mapped.service == service
    assert mapped.exit_code is ExitCode.FAILED
    assert says in mapped.message
    assert "\n" not in mapped.message
    assert DSN_PASSWORD not in str(mapped)
    assert mapped.hint


def test_a_bug_is_not_mapped() -> None:
    assert from_library(ZeroDivisionError("division by zero")) is None
    assert from_library(KeyError("x")) is None


def test_a_library_error_escaping_a_verb_is_one_masked_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def down(_stack: str) -> None:
        raise psycopg.OperationalError(f"connection to postgresql://u:{DSN_PASSWORD}@db/j failed")

    monkeypatch.setattr("runbooks.session.open_journal", down)  # status imports it when it runs
    result = CliRunner().invoke(app, ["status", "--stack", "local"])
    assert result.exit_code == ExitCode.FAILED
    assert result.output.startswith("error: PostgreSQL: OperationalError: connection to")
    assert DSN_PASSWORD not in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 2  # the line and its hint


def test_a_bug_escaping_a_verb_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_stack: str) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("runbooks.session.open_journal", broken)
    result = CliRunner().invoke(app, ["status", "--stack", "local"])
    assert isinstance(result.exception, ZeroDivisionError)


class _ForbiddingApps:
    """An AppsV1Api whose every call is refused by RBAC, as a real API server answers."""

    def read_namespaced_deployment(self, name: str, namespace: str) -> None:
        raise _forbidden()


def test_the_kubernetes_config_target_maps_the_api_error_at_its_boundary() -> None:
    target = KubernetesTarget("trading", "trading-api", apps_api=_ForbiddingApps())
    with pytest.raises(ConfigNotTaken) as raised:
        target.running(Color.BLUE)
    assert "cannot read Deployment trading-api-blue in namespace trading: 403 Forbidden" in str(
        raised.value
    )
    assert raised.value.__suppress_context__  # one line: the API answer is not chained on
