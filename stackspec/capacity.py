"""What a created EKS node group can hold, and what the services ask of it.

`ALLOCATABLE` is the allocatable CPU and memory of one EKS node (AL2023 AMI, the node
group's `AMI_TYPE` in infra.cluster) for the instance types stacks may use: m6i, m7i, c6i
and r6i, large to 4xlarge. Derived from each type's vCPUs, memory and pod limit with the
reservations the EKS AMI's bootstrap (nodeadm) applies:

- kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of the third and fourth,
  0.25% of every further core;
- kube-reserved memory: 11 MiB per pod the type allows (VPC CNI's max-pods, without prefix
  delegation) + 255 MiB; eviction threshold: 100 MiB;
- the kernel and the OS keep ~6% of the nominal memory before the kubelet sees it (a node
  reports ~7.6 GiB of an m6i.large's 8), so capacity is taken as 94% of nominal.

Beyond the kubelet's reservations, every node runs DaemonSets (aws-node with its network
policy agent, kube-proxy: `PER_NODE`) and the cluster runs add-ons the stack installs or
EKS brings (CoreDNS x2, metrics-server, External Secrets Operator, Envoy Gateway and its
proxy: `PLATFORM`); both are subtracted before the services are counted.

A type not in the table is refused (see StackSettings._node_group_fits): skipping it would
let exactly the failure this check exists for (pods Pending on the first `pulumi up`)
through unnoticed; a new type is one line here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi|Ti)?$")
_BINARY = {"Ki": 1 / 1024, "Mi": 1.0, "Gi": 1024.0, "Ti": 1024.0 * 1024}
# Kubernetes' default for a Deployment without a strategy (infra.bluegreen sets none):
# RollingUpdate with maxSurge 25%, rounded up.
DEFAULT_MAX_SURGE_PERCENT = 25


@dataclass(frozen=True)
class Amount:
    """CPU in millicores and memory in MiB."""

    cpu_m: int
    memory_mi: int

    def __add__(self, other: Amount) -> Amount:
        return Amount(self.cpu_m + other.cpu_m, self.memory_mi + other.memory_mi)

    def __sub__(self, other: Amount) -> Amount:
        return Amount(self.cpu_m - other.cpu_m, self.memory_mi - other.memory_mi)

    def times(self, count: int) -> Amount:
        """`count` of this amount."""
        return Amount(self.cpu_m * count, self.memory_mi * count)

    def fits_in(self, room: Amount) -> bool:
        """Whether both CPU and memory fit in `room`."""
        return self.cpu_m <= room.cpu_m and self.memory_mi <= room.memory_mi

    def __str__(self) -> str:
        return f"{self.cpu_m}m CPU, {self.memory_mi}Mi memory"


PER_NODE = Amount(cpu_m=150, memory_mi=200)
PLATFORM = Amount(cpu_m=1000, memory_mi=2048)


def cpu_millis(quantity: str) -> int:
    """Millicores of a CPU quantity ("1", "0.5", "250m")."""
    number, suffix = _parse(quantity)
    return math.ceil(number if suffix == "m" else number * 1000)


def mebibytes(quantity: str) -> int:
    """MiB of a memory quantity ("256Mi", "1Gi", "1.5Gi"), rounded up."""
    number, suffix = _parse(quantity)
    if suffix is None or suffix == "m":
        return math.ceil(number / (1024 * 1024) / (1000 if suffix == "m" else 1))
    return math.ceil(number * _BINARY[suffix])


def _parse(quantity: str) -> tuple[float, str | None]:
    match = _QUANTITY.match(quantity)
    if match is None:  # the settings model's QUANTITY pattern admits only these
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return float(match.group(1)), match.group(2)


def max_surge(replicas: int) -> int:
    """Extra pods a Deployment of `replicas` starts during a rolling update."""
    return math.ceil(replicas * DEFAULT_MAX_SURGE_PERCENT / 100)


def _kube_reserved_cpu_m(vcpus: int) -> int:
    steps = ((1, 60.0), (1, 10.0), (2, 5.0), (max(vcpus - 4, 0), 2.5))
    reserved, left = 0.0, vcpus
    for cores, per_core in steps:
        taken = min(cores, left)
        reserved += taken * per_core
        left -= taken
    return math.ceil(reserved)


def _node(vcpus: int, memory_gib: int, max_pods: int) -> Amount:
    capacity_mi = int(memory_gib * 1024 * 0.94)
    reserved_mi = 11 * max_pods + 255 + 100
    return Amount(vcpus * 1000 - _kube_reserved_cpu_m(vcpus), capacity_mi - reserved_mi)


# size -> (vCPUs, max pods); memory GiB per vCPU by family.
_SIZES = {"large": (2, 29), "xlarge": (4, 58), "2xlarge": (8, 58), "4xlarge": (16, 234)}
_GIB_PER_VCPU = {"m6i": 4, "m7i": 4, "c6i": 2, "r6i": 8}

ALLOCATABLE: dict[str, Amount] = {
    f"{family}.{size}": _node(vcpus, vcpus * per_vcpu, pods)
    for family, per_vcpu in _GIB_PER_VCPU.items()
    for size, (vcpus, pods) in _SIZES.items()
}


def usable(instance_type: str) -> Amount | None:
    """What one node of `instance_type` leaves for pods after its DaemonSets; None if the
    type is not in `ALLOCATABLE`."""
    node = ALLOCATABLE.get(instance_type)
    return None if node is None else node - PER_NODE
