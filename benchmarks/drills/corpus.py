"""The bad-input corpus (issue 14 item 7): malformed inputs, each refused with a clear
message naming what and where, never a traceback.

Five areas, one `Case` each input:
- stack files: the local stack file broken one way (alias bomb, size, duplicate keys,
  encodings, wrong types, out-of-range values, ...), loaded with `load_stack_file`;
- CLI arguments: names, versions, faults, paths, run through an `invoke(args)` the caller
  gives (in-process for tests, the installed `runbook` for drills), against a stack whose
  journal, router, database and cache the caller checks are unchanged;
- migration folders: `load_migration` on a folder broken one way;
- evidence records: `read_document` and `verify_document` on a broken file;
- provider and router responses: garbage from Prometheus (httpx MockTransport), HAProxy's
  admin socket (a one-answer Unix socket), the Kubernetes API and the ELBv2 API (objects
  answering as the stand-in and moto would, with garbage): a metric provider must return
  an ERROR measurement, a router must raise RouterError.

`run(case, invoke)` returns a `Result`: "refused" (BadInput, i.e. exit 2, or for the CLI
exit code 2), "error-measurement", "router-error", or anything else that is a failure
("accepted", "crashed: <exception>"), with the message and the seconds it took.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackspec.errors import BadInput, RouterError

Invoke = Callable[[Sequence[str]], tuple[int, str]]
"""Runs `runbook ARGS`; returns its exit code and its output (stdout and stderr)."""


@dataclass(frozen=True)
class Case:
    """One malformed input: its area, a name, what the refusal must mention, and the
    action (given a scratch dir and an Invoke) that feeds the input."""

    area: str
    name: str
    says: str
    action: Callable[[Path, Invoke], Any]
    expect: str = "refused"

    @property
    def id(self) -> str:
        return f"{self.area}:{self.name}"


@dataclass(frozen=True)
class Result:
    """What a case did: outcome, the message shown, seconds taken."""

    case: Case
    outcome: str
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        """Refused as expected, and the message names what it must."""
        return self.outcome == self.case.expect and self.case.says.lower() in self.message.lower()


def run(case: Case, invoke: Invoke) -> Result:
    """Feed `case`'s input; never raises (a crash is an outcome)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="corpus-") as scratch:
        try:
            outcome, message = _outcome(case.action(Path(scratch), invoke))
        except BadInput as err:
            outcome, message = "refused", str(err)
        except RouterError as err:
            outcome, message = "router-error", str(err)
        except Exception as err:  # the corpus reports what escaped
            outcome, message = f"crashed: {type(err).__name__}", str(err)
    return Result(case, outcome, message, time.perf_counter() - started)


def _outcome(value: Any) -> tuple[str, str]:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        code, output = value
        return ("refused" if code == 2 else f"exit {code}"), output
    error = getattr(value, "error", None)
    if error:
        return "error-measurement", str(error)
    return "accepted", repr(value)[:200]


# -- stack files ------------------------------------------------------------------------


def _local_stack_text() -> str:
    from stackspec.stackfile import PROJECT_ROOT

    return (PROJECT_ROOT / "stacks" / "Pulumi.local.yaml").read_text(encoding="utf-8")


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": 9 levels of 9 aliases each is 9**9 strings once expanded."""
    lines = ["config:", '  l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"  l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _stack_file(content: Callable[[str], str | bytes]) -> Callable[[Path, Invoke], Any]:
    def action(scratch: Path, _: Invoke) -> Any:
        from stackspec.stackfile import load_stack_file

        path = scratch / "Pulumi.local.yaml"
        data = content(_local_stack_text())
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return load_stack_file(path)

    return action


def _swap(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        if old not in text:
            raise AssertionError(f"the local stack file no longer holds {old!r}")
        return text.replace(old, new, 1)

    return change


STACK_FILES = [
    ("alias-bomb", "alias", lambda _: alias_bomb()),
    ("alias-in-stack", "alias", _swap("minRequests: 20", "minRequests: &m 20\n      x: *m")),
    ("ten-megabytes", "at most 1000000 bytes", lambda t: t + "#" * 10_000_000),
    (
        "duplicate-min-requests",
        "minRequests: got the key twice",
        _swap("minRequests: 20", "minRequests: 5\n      minRequests: 500000"),
    ),
    ("duplicate-top-key", "config: got the key twice", lambda t: t + "config: {}\n"),
    ("latin-1", "not UTF-8", lambda t: t.encode() + b"# caf\xe9\n"),
    ("utf-16", "not UTF-8", lambda t: t.encode("utf-16")),
    ("nul-byte", "yaml", lambda t: t + "\x00\n"),
    ("deep-nesting", "nest", lambda _: "config: " + "[" * 500 + "]" * 500 + "\n"),
    ("unclosed-flow", "yaml", lambda t: t + "x: [1, 2\n"),
    (
        "tab-indent",
        "yaml",
        lambda t: t.replace("  trading-platform:substrate", "\ttrading-platform:substrate", 1),
    ),
    ("empty", "config", lambda _: ""),
    ("a-list", "config", lambda _: "- config\n"),
    ("config-a-string", "config", lambda _: "config: local\n"),
    (
        "unknown-key",
        "unknown key",
        _swap("minRequests: 20", "minRequests: 20\n      minRequest: 20"),
    ),
    ("port-a-word", "trading-platform:services[0].port", _swap("port: 8080", "port: eighty")),
    ("port-out-of-range", "trading-platform:services[0].port", _swap("port: 8080", "port: 70000")),
    ("min-requests-negative", "minRequests", _swap("minRequests: 20", "minRequests: -5")),
    ("min-requests-a-list", "minRequests", _swap("minRequests: 20", "minRequests: [20]")),
    ("substrate-unknown", "substrate", _swap("substrate: local", "substrate: mainframe")),
    (
        "plaintext-webhook",
        "webhookUrl",
        _swap("webhookUrl: {env: TRADING_WEBHOOK_URL}", "webhookUrl: https://hooks.example/T0K3N"),
    ),
    ("foreign-namespace", "trading-platfrom:x", lambda t: t + "  trading-platfrom:x: 1\n"),
]


# -- CLI arguments ----------------------------------------------------------------------

ROLLOUT = ("rollout", "-s", "local", "--service", "trading-api")


def _cli(*args: str) -> Callable[[Path, Invoke], Any]:
    return lambda _scratch, invoke: invoke(args)


LONG_VERSION = "1." + "9" * 5000
CLI = [
    (
        "stack-a-path",
        "--stack",
        _cli("rollout", "-s", "../../etc/passwd", "--service", "x", "--version", "1.0.0"),
    ),
    ("stack-upper-case", "--stack", _cli("status", "-s", "Local")),
    ("stack-5000", "--stack", _cli("status", "-s", "s" * 5000)),
    ("stack-unknown", "existing stack files", _cli("status", "-s", "nosuch")),
    (
        "service-semicolon",
        "--service",
        _cli("rollout", "-s", "local", "--service", "api;rm", "--version", "9.0.0"),
    ),
    ("service-newline", "--service", _cli("status", "-s", "local", "--service", "trading-api\nx")),
    (
        "service-unknown",
        "no service",
        _cli(*ROLLOUT[:3], "--service", "nope", "--version", "9.0.0"),
    ),
    ("version-5000", "5002 characters", _cli(*ROLLOUT, "--version", LONG_VERSION)),
    ("version-newline", "--version", _cli(*ROLLOUT, "--version", "9.0.0\n")),
    ("version-a-path", "--version", _cli(*ROLLOUT, "--version", "../../etc")),
    ("version-shell", "--version", _cli(*ROLLOUT, "--version", "9.0.0;reboot")),
    ("version-empty", "--version", _cli(*ROLLOUT, "--version", "")),
    (
        "fault-error-rate-5",
        "from 0 to 1",
        _cli(*ROLLOUT, "--version", "9.0.0", "--fault", "error-rate=5"),
    ),
    (
        "fault-error-rate-negative",
        "from 0 to 1",
        _cli(*ROLLOUT, "--version", "9.0.0", "--fault", "error-rate=-1"),
    ),
    (
        "fault-error-rate-nan",
        "from 0 to 1",
        _cli(*ROLLOUT, "--version", "9.0.0", "--fault", "error-rate=nan"),
    ),
    (
        "fault-fail-health-maybe",
        "true/false",
        _cli(*ROLLOUT, "--version", "9.0.0", "--fault", "fail-health=maybe"),
    ),
    (
        "fault-latency-negative",
        "0 to 60000",
        _cli(*ROLLOUT, "--version", "9.0.0", "--fault", "added-latency-ms=-50"),
    ),
    ("fault-unknown", "unknown fault", _cli(*ROLLOUT, "--version", "9.0.0", "--fault", "explode")),
    (
        "migration-a-path",
        "migration",
        _cli(*ROLLOUT, "--version", "9.0.0", "--step", "db-migration", "--migration", "../../etc"),
    ),
    (
        "migration-unknown",
        "no migration",
        _cli(*ROLLOUT, "--version", "9.0.0", "--step", "db-migration", "--migration", "9.9.9"),
    ),
    (
        "migration-without-step",
        "--step db-migration",
        _cli(*ROLLOUT, "--version", "9.0.0", "--migration", "1.2.0"),
    ),
    ("step-unknown", "db-migration", _cli(*ROLLOUT, "--version", "9.0.0", "--step", "db-migrate")),
    (
        "config-version-zero",
        "config-version",
        _cli(*ROLLOUT, "--version", "9.0.0", "--config-version", "0"),
    ),
    (
        "evidence-missing",
        "evidence",
        _cli(*ROLLOUT, "--from", "staging", "--evidence", "/nonexistent/evidence.json"),
    ),
    (
        "backup-id-a-path",
        "no backup",
        _cli("db", "restore", "-s", "local", "--backup-id", "../../etc"),
    ),
    (
        "approve-version-newline",
        "--version",
        _cli("approve", "-s", "local", "--service", "trading-api", "--version", "1.0.0\n"),
    ),
]


# -- migration folders ------------------------------------------------------------------


def _migration(
    files: dict[str, str | bytes], version: str = "2.0.0"
) -> Callable[[Path, Invoke], Any]:
    def action(scratch: Path, _: Invoke) -> Any:
        from runbooks.migrations.manifest import load_migration

        folder = scratch / version
        folder.mkdir()
        for name, content in files.items():
            data = content if isinstance(content, bytes) else content.encode()
            (folder / name).write_bytes(data)
        return load_migration(scratch, version)

    return action


GOOD_MIGRATION: dict[str, str | bytes] = {
    "migration.yaml": "description: a column\n",
    "expand.sql": "ALTER TABLE orders ADD COLUMN IF NOT EXISTS ref text;\n",
    "revert.sql": "ALTER TABLE orders DROP COLUMN IF EXISTS ref;\n",
}
MIGRATIONS = [
    (
        "no-manifest",
        "migration.yaml",
        {k: v for k, v in GOOD_MIGRATION.items() if k != "migration.yaml"},
    ),
    ("no-revert", "revert.sql", {k: v for k, v in GOOD_MIGRATION.items() if k != "revert.sql"}),
    ("manifest-alias", "alias", GOOD_MIGRATION | {"migration.yaml": "a: &x 1\ndescription: *x\n"}),
    (
        "manifest-duplicate",
        "description: got the key twice",
        GOOD_MIGRATION | {"migration.yaml": "description: a\ndescription: b\n"},
    ),
    (
        "manifest-unknown-key",
        "migration.yaml",
        GOOD_MIGRATION | {"migration.yaml": "description: a\nrollback: x\n"},
    ),
    (
        "manifest-latin-1",
        "not UTF-8",
        GOOD_MIGRATION | {"migration.yaml": b"description: caf\xe9\n"},
    ),
    ("sql-latin-1", "not UTF-8", GOOD_MIGRATION | {"expand.sql": b"ALTER TABLE \xff;"}),
    (
        "sql-two-megabytes",
        "at most 1000000 bytes",
        GOOD_MIGRATION | {"expand.sql": "--" + "x" * 2_000_000},
    ),
]


# -- evidence records -------------------------------------------------------------------


def _evidence(content: str | bytes) -> Callable[[Path, Invoke], Any]:
    def action(scratch: Path, _: Invoke) -> Any:
        from runbooks.evidence.signing import verify_key
        from runbooks.evidence.verify import read_document, verify_document

        path = scratch / "evidence.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        verification = verify_document(
            read_document(path), verify_key({"RUNBOOK_EVIDENCE_KEY": "hmac:corpus-key-0123456789"})
        )
        if verification.problems:
            raise BadInput(f"{path}: " + "; ".join(map(str, verification.problems)))
        return verification

    return action


EVIDENCE: list[tuple[str, str, str | bytes]] = [
    ("not-json", "evidence file", "{not json"),
    ("duplicate-key", "got the key twice", '{"schema": 1, "schema": 2}'),
    ("nan", "NaN", '{"schema": NaN}'),
    ("a-list", "JSON object", "[1, 2, 3]"),
    ("latin-1", "not UTF-8", b'{"service": "caf\xe9"}'),
    ("deep", "(json)", "[" * 100_000 + "]" * 100_000),
    ("empty-object", "evidence.json", "{}"),
    ("two-megabytes", "at most 1000000 bytes", '{"pad": "' + "x" * 2_000_000 + '"}'),
]


# -- provider and router responses ------------------------------------------------------


def _prometheus(status: int, body: bytes) -> Callable[[Path, Invoke], Any]:
    def action(_: Path, __: Invoke) -> Any:
        import httpx

        from runbooks.core.model import Target
        from runbooks.metrics.prometheus import PrometheusMetrics
        from stackspec.model import Color

        transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
        with httpx.Client(transport=transport) as client:
            provider = PrometheusMetrics("http://prometheus.invalid", client=client)
            return provider.sample(Target("trading-api", Color.GREEN, "9.0.0"), 10)

    return action


def _matrix(values: object) -> bytes:
    result = [{"metric": {"color": "green"}, "values": values}]
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": result}}
    ).encode()


@contextmanager
def one_answer_socket(path: Path, answer: bytes) -> Iterator[Path]:
    """A Unix socket at `path` that answers every connection with `answer`, then closes."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(8)
    listener.settimeout(0.05)  # so the thread sees `stop` soon: close() does not wake accept()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            with conn:
                conn.recv(4096)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=2)


def _haproxy_router(answer: bytes) -> Callable[[Path, Invoke], Any]:
    def action(scratch: Path, _: Invoke) -> Any:
        from runbooks.routers.haproxy import HaproxyRouter

        with one_answer_socket(scratch / "admin.sock", answer) as path:
            return HaproxyRouter(path, timeout_seconds=2, retry_budget_seconds=0).get_weights(
                "trading-api"
            )

    return action


def _haproxy_stats(answer: bytes) -> Callable[[Path, Invoke], Any]:
    def action(scratch: Path, _: Invoke) -> Any:
        from runbooks.core.model import Target
        from runbooks.metrics.haproxy_stats import HaproxyStatsMetrics
        from stackspec.model import Color

        with one_answer_socket(scratch / "admin.sock", answer) as path:
            provider = HaproxyStatsMetrics(path, timeout_seconds=2)
            return provider.sample(Target("trading-api", Color.GREEN, "9.0.0"), 10)

    return action


class _Answers:
    """An API client whose every method answers `answer` (the stand-in's or moto's shape,
    filled with garbage)."""

    def __init__(self, answer: object) -> None:
        self._answer = answer

    def __getattr__(self, name: str) -> Callable[..., object]:
        return lambda *args, **kwargs: self._answer


def _kubernetes(route: object) -> Callable[[Path, Invoke], Any]:
    def action(_: Path, __: Invoke) -> Any:
        from runbooks.routers.kubernetes_route import KubernetesRouter

        router = KubernetesRouter("trading", _Answers(route), _Answers({}))
        return router.get_weights("trading-api")

    return action


def _alb(answer: object) -> Callable[[Path, Invoke], Any]:
    def action(_: Path, __: Invoke) -> Any:
        from runbooks.routers.aws_alb import AwsAlbRouter

        arns = {"trading-api": "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2"}
        client: Any = _Answers(answer)
        router = AwsAlbRouter(arns, target_group="arn:aws:tg/{service}-{color}", client=client)
        return router.get_weights("trading-api")

    return action


SHOW_STATE_HEADER = (
    b"1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight\n"
)
PROVIDERS: list[tuple[str, str, str, Callable[[Path, Invoke], Any]]] = [
    (
        "prometheus-not-json",
        "prometheus",
        "error-measurement",
        _prometheus(200, b"<html>oops</html>"),
    ),
    ("prometheus-500", "prometheus", "error-measurement", _prometheus(500, b"internal error")),
    ("prometheus-a-list", "prometheus", "error-measurement", _prometheus(200, b"[1, 2]")),
    (
        "prometheus-no-data",
        "prometheus",
        "error-measurement",
        _prometheus(200, b'{"status": "success"}'),
    ),
    (
        "prometheus-value-a-word",
        "prometheus",
        "error-measurement",
        _prometheus(200, _matrix([[1, "lots"]])),
    ),
    (
        "prometheus-values-a-string",
        "prometheus",
        "error-measurement",
        _prometheus(200, _matrix("zzz")),
    ),
    (
        "prometheus-error-status",
        "prometheus",
        "error-measurement",
        _prometheus(200, b'{"status": "error", "error": "bad query"}'),
    ),
    ("haproxy-stats-garbage", "haproxy", "error-measurement", _haproxy_stats(b"\x00\xffgarbage\n")),
    (
        "haproxy-stats-header-only",
        "haproxy",
        "error-measurement",
        _haproxy_stats(b"# pxname,svname\n"),
    ),
    (
        "haproxy-stats-counters-words",
        "haproxy",
        "error-measurement",
        _haproxy_stats(b"# pxname,svname,stot,hrsp_5xx\nbe_trading-api,green,many,some\n"),
    ),
    (
        "haproxy-state-unknown-command",
        "haproxy",
        "router-error",
        _haproxy_router(b"Unknown command.\n"),
    ),
    ("haproxy-state-empty", "haproxy", "router-error", _haproxy_router(b"")),
    (
        "haproxy-state-weight-a-word",
        "haproxy",
        "router-error",
        _haproxy_router(
            SHOW_STATE_HEADER
            + b"3 be_trading-api 1 blue 127.0.0.1 2 0 heavy\n"
            + b"3 be_trading-api 2 green 127.0.0.1 2 0 x\n"
        ),
    ),
    ("haproxy-state-no-servers", "haproxy", "router-error", _haproxy_router(SHOW_STATE_HEADER)),
    ("kubernetes-route-a-string", "HTTPRoute", "router-error", _kubernetes("garbage")),
    ("kubernetes-spec-null", "HTTPRoute", "router-error", _kubernetes({"spec": None})),
    (
        "kubernetes-weight-a-word",
        "HTTPRoute",
        "router-error",
        _kubernetes(
            {
                "spec": {
                    "rules": [
                        {
                            "backendRefs": [
                                {"name": "trading-api-blue", "weight": "heavy"},
                                {"name": "trading-api-green", "weight": 0},
                            ]
                        }
                    ]
                }
            }
        ),
    ),
    ("kubernetes-rules-a-number", "HTTPRoute", "router-error", _kubernetes({"spec": {"rules": 7}})),
    ("alb-listeners-a-string", "listener", "router-error", _alb({"Listeners": "garbage"})),
    ("alb-no-listeners-key", "listener", "router-error", _alb({})),
    (
        "alb-weight-a-word",
        "listener",
        "router-error",
        _alb(
            {
                "Listeners": [
                    {
                        "DefaultActions": [
                            {
                                "ForwardConfig": {
                                    "TargetGroups": [
                                        {
                                            "TargetGroupArn": "arn:aws:tg/trading-api-blue",
                                            "Weight": "x",
                                        }
                                    ]
                                }
                            }
                        ]
                    }
                ]
            }
        ),
    ),
]


def cases() -> list[Case]:
    """Every case of the corpus, stack files first."""
    found = [Case("stack-file", n, says, action=_stack_file(f)) for n, says, f in STACK_FILES]
    found += [Case("cli", n, says, action=a) for n, says, a in CLI]
    found += [Case("migration", n, says, action=_migration(files)) for n, says, files in MIGRATIONS]
    found += [Case("evidence", n, says, action=_evidence(body)) for n, says, body in EVIDENCE]
    found += [Case("provider", n, says, action=a, expect=e) for n, says, e, a in PROVIDERS]
    return found
