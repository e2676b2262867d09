"""Rules of the Kubernetes workloads: pod hardening, limits, probes, pinned images, and a
default-deny NetworkPolicy in every namespace that runs them.

Inputs are the manifests as pulumi-kubernetes passes them (camelCase, as in YAML).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pulumi_policy import Severity

from infra.policies.base import Config, Props, Rule, Setting, StackResource, StackRule, get, items

TEMPLATED = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
}
CRONJOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECCOMP_TYPES = ("RuntimeDefault", "Localhost")
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")


def pod_spec(resource_type: str, props: Props) -> Props | None:
    """The pod spec a workload runs, or None if `resource_type` runs no pods."""
    if resource_type in TEMPLATED:
        spec = get(props, "spec", "template", "spec")
    elif resource_type == CRONJOB:
        spec = get(props, "spec", "jobTemplate", "spec", "template", "spec")
    elif resource_type == POD:
        spec = props.get("spec")
    else:
        return None
    return spec if isinstance(spec, Mapping) else {}


def _containers(spec: Props, init: bool = True) -> list[Props]:
    inits = items(spec.get("initContainers")) if init else []
    return [*inits, *items(spec.get("containers"))]


def security_context(resource_type: str, props: Props, config: Config) -> list[str]:
    """Non-root, no privilege escalation, ALL capabilities dropped, read-only root fs,
    seccomp RuntimeDefault: every container, init containers included; no host namespaces."""
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    pod = spec.get("securityContext") or {}
    problems = [f"pod: {key} must not be true" for key in HOST_NAMESPACES if spec.get(key)]
    for c in _containers(spec):
        problems += [
            f"container {c.get('name')}: {why}"
            for why in _container_problems(c.get("securityContext") or {}, pod, config)
        ]
    return problems


def _container_problems(ctx: Props, pod: Props, config: Config) -> list[str]:
    problems = []
    if not ctx.get("runAsNonRoot", pod.get("runAsNonRoot")):
        problems.append("runAsNonRoot must be true")
    if ctx.get("privileged"):
        problems.append("privileged must not be true")
    if ctx.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation must be false")
    if "ALL" not in (get(ctx, "capabilities", "drop") or []):
        problems.append("capabilities.drop must include ALL")
    if ctx.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem must be true")
    seccomp = get(ctx, "seccompProfile", "type") or get(pod, "seccompProfile", "type")
    if config["requireSeccomp"] and seccomp not in SECCOMP_TYPES:
        problems.append("seccompProfile.type must be RuntimeDefault")
    return problems


def resource_limits(resource_type: str, props: Props, config: Config) -> list[str]:
    """Every container requests CPU and memory and is limited in memory (and CPU)."""
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
    if config["requireCpuLimit"]:
        wanted.append(("limits", "cpu"))
    return [
        f"container {c.get('name')}: resources.{kind}.{res} must be set"
        for c in _containers(spec)
        for kind, res in wanted
        if not get(c, "resources", kind, res)
    ]


def probes(resource_type: str, props: Props, config: Config) -> list[str]:
    """Every (non-init) container has readiness, liveness and, if required, startup probes."""
    spec = pod_spec(resource_type, props)
    if spec is None or resource_type in ("kubernetes:batch/v1:Job", CRONJOB):
        return []
    kinds = ["readinessProbe", "livenessProbe"]
    if config["requireStartupProbe"]:
        kinds.append("startupProbe")
    return [
        f"container {c.get('name')}: {kind} must be set"
        for c in _containers(spec, init=False)
        for kind in kinds
        if not c.get(kind)
    ]


def image_problem(image: str, require_digest: bool) -> str | None:
    """Why `image` is not pinned, or None."""
    if "@sha256:" in image:
        return None
    if require_digest:
        return "must be pinned by digest (@sha256:...)"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag"
    return "uses :latest" if last.rsplit(":", 1)[1] == "latest" else None


def pinned_images(resource_type: str, props: Props, config: Config) -> list[str]:
    """Images carry a version tag (never :latest or none) or, if required, a digest."""
    spec = pod_spec(resource_type, props)
    if spec is None:
        return []
    found = []
    for c in _containers(spec):
        why = image_problem(str(c.get("image") or ""), config["requireDigest"])
        if why:
            found.append(f"container {c.get('name')}: image {c.get('image')!r} {why}")
    return found


def no_token_automount(resource_type: str, props: Props, config: Config) -> list[str]:
    """Pods do not mount a Kubernetes API token unless their workload is allowed to (IRSA
    uses its own projected token, not this one)."""
    spec = pod_spec(resource_type, props)
    name = get(props, "metadata", "name")
    if spec is None or name in config["allowTokenAutomount"]:
        return []
    if spec.get("automountServiceAccountToken") is False:
        return []
    return ["automountServiceAccountToken must be false (or list it in allowTokenAutomount)"]


def _denies(policy: StackResource, direction: str) -> bool:
    spec = policy.props.get("spec") or {}
    selects_all = not any((spec.get("podSelector") or {}).values())
    return (
        selects_all
        and direction in (spec.get("policyTypes") or [])
        and not spec.get(direction.lower())
    )


def namespace_of(resource: StackResource) -> str:
    """A namespaced resource's namespace (`default` when none is given)."""
    return str(get(resource.props, "metadata", "namespace") or "default")


def network_policies(resources: Sequence[StackResource], config: Config) -> list[str]:
    """Every namespace with workloads has default-deny ingress (and egress) NetworkPolicies."""
    directions = ["Ingress", "Egress"] if config["requireEgressDeny"] else ["Ingress"]
    used = sorted({namespace_of(r) for r in resources if pod_spec(r.type, r.props) is not None})
    policies = [r for r in resources if r.type == NETWORK_POLICY]
    return [
        f"namespace {ns} has workloads but no default-deny {direction} NetworkPolicy"
        for ns in used
        for direction in directions
        if not any(namespace_of(p) == ns and _denies(p, direction) for p in policies)
    ]


H, M, L = Severity.HIGH, Severity.MEDIUM, Severity.LOW


def _flag(name: str, default: bool) -> Setting:
    return Setting(name, {"type": "boolean"}, default)


NAMES = {"type": "array", "items": {"type": "string"}}

RULES: tuple[Rule, ...] = (
    Rule("k8s-security-context", "Containers run hardened", H,
         "Set pod securityContext runAsNonRoot=True, seccompProfile RuntimeDefault; container "
         "allowPrivilegeEscalation=False, readOnlyRootFilesystem=True (emptyDir for /tmp), "
         "capabilities.drop=['ALL'].", security_context, None,
         (_flag("requireSeccomp", True),)),
    Rule("k8s-resource-limits", "Containers have requests and limits", M,
         "Set resources.requests cpu/memory and resources.limits memory (and cpu).",
         resource_limits, None, (_flag("requireCpuLimit", True),)),
    Rule("k8s-probes", "Containers have health probes", M,
         "Add readinessProbe, livenessProbe and startupProbe (httpGet on the health path).",
         probes, None, (_flag("requireStartupProbe", True),)),
    Rule("k8s-pinned-images", "Images are pinned", M,
         "Use an immutable version tag (or @sha256 digest), never :latest or no tag.",
         pinned_images, None, (_flag("requireDigest", False),)),
    Rule("k8s-no-token-automount", "No Kubernetes API token in pods that do not need it",
         L, "Set automountServiceAccountToken=False in the pod spec.", no_token_automount,
         None, (Setting("allowTokenAutomount", NAMES, []),)),
)  # fmt: skip

STACK_RULES: tuple[StackRule, ...] = (
    StackRule("k8s-network-policy-per-namespace", "Default-deny NetworkPolicy per namespace",
              H, "Declare a NetworkPolicy with podSelector {} and policyTypes "
              "['Ingress', 'Egress'] in every namespace, then allow the flows needed.",
              network_policies, None, (_flag("requireEgressDeny", True),)),
)  # fmt: skip
