"""Names the Kubernetes API server validates in code, not in its OpenAPI schema.

kubernetes-validate checks types and fields; these rules are enforced by the API server's
validation (k8s.io/apimachinery/pkg/util/validation, pkg/apis/core/validation) and would
first fail at `pulumi up`:
- Namespace, Service and container names: DNS-1123 label, or for a Service DNS-1035 label
  (at most 63 characters, lowercase alphanumerics and '-', starting with a letter for 1035);
- other object names: DNS-1123 subdomain (at most 253 characters, lowercase alphanumerics,
  '-' and '.');
- label keys: an optional DNS subdomain prefix and '/', then a name of at most 63 characters
  (alphanumerics, '-', '_', '.', starting and ending alphanumeric); label values the same
  name syntax or empty;
- container and service port names: IANA_SVC_NAME (at most 15 characters, lowercase
  alphanumerics and '-', at least one letter, no leading, trailing or double '-').
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
PORT_NAME = re.compile(r"(?!.*--)(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_NAMED = {"Namespace": DNS1123_LABEL, "Service": DNS1035_LABEL}


def _ok(pattern: re.Pattern[str], value: Any, max_len: int) -> bool:
    return isinstance(value, str) and len(value) <= max_len and bool(pattern.fullmatch(value))


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not _ok(DNS1123_SUBDOMAIN, prefix, 253):
        return False
    return _ok(QUALIFIED_NAME, name, 63)


def _metadata_problems(meta: dict[str, Any], kind: str, where: str) -> Iterator[str]:
    name = meta.get("name")
    if name is not None:
        pattern = LABEL_NAMED.get(kind, DNS1123_SUBDOMAIN)
        limit = 63 if kind in LABEL_NAMED else 253
        if not _ok(pattern, name, limit):
            rule = f"{pattern.pattern}, at most {limit} characters"
            yield f"{where}name: {name!r} is not a valid {kind} name ({rule})"
    for key, value in (meta.get("labels") or {}).items():
        if not _label_key_ok(str(key)):
            yield f"{where}labels: key {key!r} is not a valid label key"
        if value != "" and not _ok(QUALIFIED_NAME, value, 63):
            yield f"{where}labels.{key}: {value!r} is not a valid label value (<= 63)"


def _pod_specs(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = body.get("spec") or {}
    if body.get("kind") == "Pod":
        yield "spec.", spec
    template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get(
        "template"
    )
    if isinstance(template, dict):
        yield "spec.template.spec.", template.get("spec") or {}


def name_problems(body: dict[str, Any]) -> list[str]:
    """What the API server would refuse in `body`'s names, labels and port names."""
    kind = str(body.get("kind", ""))
    problems = list(_metadata_problems(body.get("metadata") or {}, kind, "metadata."))
    spec = body.get("spec") or {}
    if isinstance(spec.get("template"), dict):
        template_meta = spec["template"].get("metadata") or {}
        problems += _metadata_problems(
            {"labels": template_meta.get("labels")}, kind, "spec.template.metadata."
        )
    for where, pod in _pod_specs(body):
        for group in ("initContainers", "containers"):
            for i, container in enumerate(pod.get(group) or []):
                at = f"{where}{group}[{i}]"
                if not _ok(DNS1123_LABEL, container.get("name"), 63):
                    problems.append(f"{at}.name: {container.get('name')!r} is not a DNS-1123 label")
                for j, port in enumerate(container.get("ports") or []):
                    if "name" in port and not _ok(PORT_NAME, port["name"], 15):
                        problems.append(
                            f"{at}.ports[{j}].name: {port['name']!r} is not an "
                            "IANA_SVC_NAME (<= 15, lowercase, a letter, no '--')"
                        )
    if kind == "Service":
        for j, port in enumerate(spec.get("ports") or []):
            if "name" in port and not _ok(DNS1123_LABEL, port["name"], 63):
                problems.append(f"spec.ports[{j}].name: {port['name']!r} is not a DNS-1123 label")
    return problems
