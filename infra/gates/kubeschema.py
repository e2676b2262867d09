"""The Kubernetes schema gate: every manifest of the plan against a strict schema.

Built-in kinds are validated by kubernetes-validate against the OpenAPI schema of the
Kubernetes release of the stack's EKS cluster (its `version`), else `KUBERNETES_VERSION`
(dev's cluster is not declared), in strict mode (an unknown field is an error, as with the
API server's `fieldValidation=Strict`). Custom resources are validated against the CRD
schemas vendored under `schemas/` (see its README), made strict the same way: every object
schema that lists its properties and does not preserve unknown fields rejects others. CEL rules
(`x-kubernetes-validations`) are not evaluated: jsonschema has no CEL. A kind with neither
schema is reported as unchecked, with the reason, never as passed. Names, labels and port
names are checked as the API server checks them (`kubenames.py`): no schema carries those.
A Helm release's `values` are checked against its chart version's vendored
values.schema.json; the chart's templates are rendered at deploy time and are not checked.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from infra.gates.kubenames import name_problems
from infra.gates.render import Manifest, kubernetes_manifests
from infra.gates.result import Finding, GateResult
from infra.offline import PlannedResource

# The release manifests must be valid for where the plan declares no cluster.
KUBERNETES_VERSION = "1.33.0"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SCHEMAS = Path(__file__).with_name("schemas")


def strict(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` on every closed object schema."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    closed = (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    )
    if closed:
        out["additionalProperties"] = False
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """Vendored CRD schemas by (apiVersion, kind), made strict."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(SCHEMAS.glob("*/*/*.json")):
        group = path.parent.name
        kind, _, version = path.stem.rpartition("-")
        found[(f"{group}/{version}", kind)] = strict(json.loads(path.read_text()))
    return found


def cluster_version(plan: list[PlannedResource]) -> str:
    """The Kubernetes release of the plan's EKS cluster, else `KUBERNETES_VERSION`."""
    versions = {
        str(r.props["version"]) for r in plan if r.type == EKS_CLUSTER and "version" in r.props
    }
    return f"{max(versions)}.0" if versions else KUBERNETES_VERSION


def validate_manifest(body: dict[str, Any], version: str = KUBERNETES_VERSION) -> list[str] | None:
    """The schema errors of one manifest ([] when valid), or None when no schema covers it."""
    schema = crd_schemas().get((body.get("apiVersion", ""), body.get("kind", "")))
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        return [_where(e) for e in sorted(validator.iter_errors(body), key=str)]
    try:
        kubernetes_validate.validate(body, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as exc:
        return [_where(exc)]
    return []


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{path}: {error.message}"


def check_manifests(
    stack: str, manifests: list[Manifest], version: str = KUBERNETES_VERSION
) -> GateResult:
    """The gate's verdict on `manifests` of `stack`, for Kubernetes `version`."""
    result = GateResult("kubeschema", stack)
    for manifest in manifests:
        errors = validate_manifest(manifest.body, version)
        if errors is None:
            api = f"{manifest.body['apiVersion']} {manifest.body['kind']}"
            result.unchecked.append(f"{manifest.label}: no schema for {api} (not vendored)")
            continue
        result.checked += 1
        result.failures += [Finding(manifest.label, "schema", e) for e in errors]
        result.failures += [
            Finding(manifest.label, "name", p) for p in name_problems(manifest.body)
        ]
    return result


def helm_values_errors(release: PlannedResource) -> list[str] | None:
    """The errors of a Helm release's `values` against its chart's vendored
    values.schema.json, made strict (a key the chart does not know is ignored by its
    templates: a mistake), or None when that chart version's schema is not vendored."""
    chart, version = release.props.get("chart"), release.props.get("version")
    path = SCHEMAS / "helm" / f"{chart}-{version}" / "values.schema.json"
    if not path.exists():
        return None
    schema = strict(json.loads(path.read_text()))
    validator = jsonschema.Draft202012Validator(schema)
    values = release.props.get("values") or {}
    return [_where(e) for e in sorted(validator.iter_errors(values), key=str)]


def kubeschema_gate(stack: str, plan: list[PlannedResource]) -> GateResult:
    """Validate every Kubernetes manifest in `plan`, and Helm releases' values."""
    manifests, not_manifests = kubernetes_manifests(plan)
    version = cluster_version(plan)
    result = check_manifests(stack, manifests, version)
    result.note = f"Kubernetes {version.rsplit('.', 1)[0]}"
    for release in (r for r in plan if r.type == HELM_RELEASE):
        errors = helm_values_errors(release)
        if errors is None:
            continue  # stays in not_manifests: nothing checked it
        label = release.label
        not_manifests = [m for m in not_manifests if not m.startswith(label + ":")]
        result.checked += 1
        result.failures += [Finding(label, "values", e) for e in errors]
    result.unchecked += not_manifests
    return result
