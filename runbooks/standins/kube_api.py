"""A stateful stand-in for the Kubernetes API server, for tests: no API server can run here.

It serves the paths the real `kubernetes` client calls for the kinds the router and the
deployer touch (apps/v1 Deployments, v1 Services, gateway.networking.k8s.io/v1 HTTPRoutes)
over HTTP on a free loopback port, and keeps what was written:

- GET returns the stored object; an unknown object is a 404 `Status` (NotFound), an unknown
  resource type a 404 `Status` too, as the API server answers.
- PATCH applies, by Content-Type: `application/merge-patch+json` (RFC 7386),
  `application/json-patch+json` (RFC 6902, by the `jsonpatch` library; a failed `test` op or a
  bad path is a 422 Invalid), and `application/strategic-merge-patch+json` applied AS A MERGE
  PATCH. That is a simplification: a real strategic merge merges lists by their merge key
  (containers by name, ports by port) and honours `$patch` directives; here a list in the patch
  replaces the whole list. Custom resources (HTTPRoutes) refuse strategic merge with 415, as
  the API server does.
- A patched object whose `metadata.resourceVersion` (sent in the patch) differs from the
  stored one is refused with 409 Conflict: the optimistic-concurrency precondition.
- Server-managed fields are the server's: apiVersion, kind, name, namespace, uid,
  creationTimestamp, generation and resourceVersion; `status` is not written through the main
  resource (all three kinds have a status subresource).
- Every write that changes the object bumps `metadata.resourceVersion` (one counter for the
  whole store, as etcd's revision); a patch that changes nothing is not a write, as in the API
  server. A change of `spec` bumps `metadata.generation` (Deployments, HTTPRoutes; Services
  carry no generation).
- A simulated Deployment controller writes `status` when the Deployment is read after a spec
  change, by its rollout mode (`Rollout`): "immediate" (the first read sees it complete), an
  int N (read 1: not yet observed; reads 2..N-1: in progress; read N: complete), or "never"
  (stays in progress: the new pod never becomes ready). In progress is what a RollingUpdate
  with maxSurge 1 shows while its new pod is not ready: observedGeneration current,
  replicas = desired + 1, updatedReplicas 1, availableReplicas = desired (the old pods),
  unavailableReplicas 1.

Objects are seeded with `seed(obj)`, which fills the fields the API server fills (metadata,
a few defaults, a complete Deployment status). `requests` records what the client sent and
the answers. `write_kubeconfig(path)` points a kubeconfig at the server, for code that loads
its configuration as it would for a cluster.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import jsonpatch

from runbooks.local.process import free_port

Rollout = Literal["immediate", "never"] | int
Key = tuple[str, str, str, str]  # apiVersion, namespace, plural, name

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class Kind:
    """A resource type the stand-in serves."""

    api_version: str
    plural: str
    kind: str
    generation: bool  # does the API server keep metadata.generation for it
    custom: bool  # a CRD: no strategic merge patch

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def resource(self) -> str:
        """As the API server names it in messages: `deployments.apps`, `services`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS = {
    (k.api_version, k.plural): k
    for k in (
        Kind("apps/v1", "deployments", "Deployment", generation=True, custom=False),
        Kind("v1", "services", "Service", generation=False, custom=False),
        Kind("gateway.networking.k8s.io/v1", "httproutes", "HTTPRoute", True, custom=True),
    )
}
PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)/(?P<name>[^/]+)$"
)
SERVER_FIELDS = ("name", "namespace", "uid", "creationTimestamp", "generation")


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class Request:
    """One request as the client sent it, and the stand-in's answer."""

    method: str
    path: str
    content_type: str
    body: Any
    answer: Answer


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None) -> Answer:
    """A `Status` object (kind Status, apiVersion v1), as the API server sends for errors."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        body["details"] = details
    body["code"] = code
    return Answer(code, body)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch of `target` by `patch` (inputs untouched)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class KubeApiStandIn:
    """The store, the simulated Deployment controller and the HTTP server around them.

    Use as a context manager (starts and stops the server); `configuration()` gives the
    kubernetes client's Configuration pointing at it.
    """

    rollout: Rollout = "immediate"
    requests: list[Request] = field(default_factory=list)
    _objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    _rollouts: dict[tuple[str, str], Rollout] = field(default_factory=dict)
    _reads_since_change: dict[Key, int] = field(default_factory=dict)
    _revision: int = 1000
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> KubeApiStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def host(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def configuration(self) -> Any:
        """A kubernetes.client.Configuration for this server."""
        from kubernetes import client

        return client.Configuration(host=self.host)

    def write_kubeconfig(self, path: Path, context: str = "stand-in") -> Path:
        """A kubeconfig at `path` whose `context` (also the current one) is this server, for
        code that loads its client configuration the way it would for a cluster."""
        cluster = {"name": context, "cluster": {"server": self.host}}
        user = {"name": context, "user": {"token": "stand-in"}}
        entry = {"name": context, "context": {"cluster": context, "user": context}}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [user],
            "contexts": [entry],
            "current-context": context,
        }
        path.write_text(json.dumps(config))  # JSON is YAML
        return path

    # -- test-side access (no HTTP, no controller) ---------------------------------------------
    def seed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` as created by the API server (a Deployment as fully rolled out)."""
        kind = self._kind_of(obj)
        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        if kind.generation:
            meta["generation"] = 1
        _DEFAULTS.get(kind.kind, lambda b: None)(body)
        with self._lock:
            key = (kind.api_version, meta["namespace"], kind.plural, meta["name"])
            if kind.kind == "Deployment":
                body["status"] = _rolled_out(body)
            self._store(key, body)
            return copy.deepcopy(body)

    def get(self, api_version: str, namespace: str, plural: str, name: str) -> dict[str, Any]:
        """The stored object (KeyError if absent); not a read the controller sees."""
        with self._lock:
            return copy.deepcopy(self._objects[(api_version, namespace, plural, name)])

    def set_rollout(self, namespace: str, name: str, mode: Rollout) -> None:
        """How Deployment `namespace/name` rolls out from now on (default: `rollout`)."""
        with self._lock:
            self._rollouts[(namespace, name)] = mode

    # -- the API -------------------------------------------------------------------------
    def handle(self, method: str, path: str, content_type: str, body: Any) -> Answer:
        """Answer one request (what the HTTP handler calls), and record both."""
        with self._lock:
            answer = self._answer(method, path, content_type, body)
            self.requests.append(Request(method, path, content_type, body, answer))
            return answer

    def _answer(self, method: str, path: str, content_type: str, body: Any) -> Answer:
        match = PATH.match(path.split("?")[0])
        api_version = ""
        if match:
            parts = match.groupdict()
            api_version = parts["core"] or f"{parts['group']}/{parts['version']}"
        kind = KINDS.get((api_version, match["plural"])) if match else None
        if match is None or kind is None:
            return status_body(
                404, "NotFound", "the server could not find the requested resource", None
            )
        key = (api_version, match["ns"], match["plural"], match["name"])
        if key not in self._objects:
            return _error(404, "NotFound", kind, key, f'{kind.resource} "{key[3]}" not found')
        if method == "GET":
            return Answer(200, self._read(key))
        if method == "PATCH":
            return self._patch(kind, key, content_type, body)
        return status_body(405, "MethodNotAllowed", f"{method} is not supported here", None)

    def _read(self, key: Key) -> dict[str, Any]:
        if key in self._reads_since_change:
            self._reads_since_change[key] += 1
            self._controller(key, self._reads_since_change[key])
        return copy.deepcopy(self._objects[key])

    def _controller(self, key: Key, reads: int) -> None:
        mode = self._rollouts.get((key[1], key[3]), self.rollout)
        obj = copy.deepcopy(self._objects[key])
        if mode == "immediate" or (isinstance(mode, int) and reads >= mode):
            obj["status"] = _rolled_out(obj)
            del self._reads_since_change[key]
        elif reads == 1:
            return  # the controller has not observed the new generation yet
        else:
            obj["status"] = _rolling(obj)
        if obj != self._objects[key]:
            self._store(key, obj)

    def _patch(self, kind: Kind, key: Key, content_type: str, patch: Any) -> Answer:
        stored = self._objects[key]
        media = content_type.split(";")[0].strip().lower()
        if media == STRATEGIC and kind.custom:
            return _error(
                415,
                "UnsupportedMediaType",
                kind,
                key,
                f"the body of the request "
                f"was in an unknown format - accepted media types include: "
                f"{JSON_PATCH}, {MERGE}, application/apply-patch+yaml",
            )
        try:
            if media in (MERGE, STRATEGIC):
                patched = merge_patch(stored, patch)
            elif media == JSON_PATCH:
                patched = jsonpatch.apply_patch(stored, patch)
            else:
                return _error(415, "UnsupportedMediaType", kind, key, f"unknown {media}")
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            return _error(422, "Invalid", kind, key, f"the patch cannot be applied: {exc}")
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            return _error(422, "Invalid", kind, key, "the patched object is not an object")
        sent = patched["metadata"].get("resourceVersion")
        if sent not in (None, stored["metadata"]["resourceVersion"]):
            return _error(
                409,
                "Conflict",
                kind,
                key,
                f"Operation cannot be fulfilled on "
                f'{kind.resource} "{key[3]}": the object has been modified; please '
                f"apply your changes to the latest version and try again",
            )
        return Answer(200, self._write(kind, key, patched))

    def _write(self, kind: Kind, key: Key, patched: dict[str, Any]) -> dict[str, Any]:
        stored = self._objects[key]
        patched.update(apiVersion=stored["apiVersion"], kind=stored["kind"])
        for name in SERVER_FIELDS:
            if name in stored["metadata"]:
                patched["metadata"][name] = stored["metadata"][name]
        patched["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"]
        if "status" in stored:
            patched["status"] = copy.deepcopy(stored["status"])
        else:
            patched.pop("status", None)
        if patched == stored:
            return copy.deepcopy(stored)
        if kind.generation and patched.get("spec") != stored.get("spec"):
            patched["metadata"]["generation"] += 1
            if kind.kind == "Deployment":
                self._reads_since_change[key] = 0
        self._store(key, patched)
        return copy.deepcopy(patched)

    def _store(self, key: Key, obj: dict[str, Any]) -> None:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        self._objects[key] = obj

    @staticmethod
    def _kind_of(obj: dict[str, Any]) -> Kind:
        for kind in KINDS.values():
            if (kind.api_version, kind.kind) == (obj.get("apiVersion"), obj.get("kind")):
                return kind
        raise ValueError(f"the stand-in serves no {obj.get('apiVersion')} {obj.get('kind')}")


def _error(code: int, reason: str, kind: Kind, key: Key, message: str) -> Answer:
    details: dict[str, Any] = {"name": key[3]}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.plural
    return status_body(code, reason, message, details)


def _desired(deployment: dict[str, Any]) -> int:
    return int(deployment.get("spec", {}).get("replicas", 1))


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    now = _now()
    return {
        "type": kind,
        "status": "True",
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def _rolled_out(deployment: dict[str, Any]) -> dict[str, Any]:
    desired, name = _desired(deployment), deployment["metadata"]["name"]
    return {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": desired,
        "updatedReplicas": desired,
        "readyReplicas": desired,
        "availableReplicas": desired,
        "conditions": [
            _condition(
                "Available", "MinimumReplicasAvailable", "Deployment has minimum availability."
            ),
            _condition(
                "Progressing",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
            ),
        ],
    }


def _rolling(deployment: dict[str, Any]) -> dict[str, Any]:
    desired, name = _desired(deployment), deployment["metadata"]["name"]
    status = _rolled_out(deployment)
    status.update(replicas=desired + 1, updatedReplicas=1, unavailableReplicas=1)
    status["conditions"][1] = _condition(
        "Progressing", "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.'
    )
    return status


def _deployment_defaults(body: dict[str, Any]) -> None:
    spec = body.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _service_defaults(body: dict[str, Any]) -> None:
    spec = body.setdefault("spec", {})
    address = f"10.96.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"
    for port in spec.get("ports", []):
        port.setdefault("protocol", "TCP")
    spec.setdefault("clusterIP", address)
    spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    body.setdefault("status", {"loadBalancer": {}})


_DEFAULTS = {"Deployment": _deployment_defaults, "Service": _service_defaults}


def _handler(api: KubeApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _exchange(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            answer = api.handle(self.command, self.path, self.headers.get("Content-Type", ""), body)
            payload = json.dumps(answer.body).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PATCH = do_POST = do_PUT = do_DELETE = _exchange

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
