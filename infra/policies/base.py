"""The shape of a policy: a rule over one resource, or a stack rule over all of them.

A rule is data plus a pure function, so it is testable without the engine:

- `Rule.check(resource_type, props, config) -> list[str]`: the violations of one resource
  (empty: compliant). `props` are Pulumi's inputs in camelCase, as the engine and the mocks
  pass them; `config` is the rule's configuration with the schema's defaults filled in.
- `StackRule.check(resources, config) -> list[str]`: for what needs several resources (a flow
  log for every VPC, a NetworkPolicy in every namespace with workloads).

Every rule carries a severity, remediation text, and the AWS Foundational Security Best
Practices control it stands for (when there is one). `Setting` is one key of its config
schema: a JSON-schema fragment and a default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import Severity
from pulumi_policy.proxy import UnknownValueError

Props = Mapping[str, Any]
Config = Mapping[str, Any]
FSBP = "AWS Foundational Security Best Practices"


@dataclass(frozen=True)
class StackResource:
    """One resource as a stack rule sees it.

    `ids` are the values other resources' inputs use to refer to it (its id, its ARN);
    `refs` maps an input key to the URNs of the resources that input depends on (the
    engine's property dependencies, known even while ids are not, during a preview; empty
    offline, where ids resolve instead).
    """

    type: str
    name: str
    props: Props
    ids: frozenset[str] = frozenset()
    refs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    urn: str = ""

    def points_at(self, key: str, target: StackResource) -> bool:
        """Whether input `key` of this resource refers to `target`."""
        if target.urn and target.urn in self.refs.get(key, frozenset()):
            return True
        try:
            value = self.props.get(key)
        except UnknownValueError:  # an id not known yet (preview): only refs can tell
            return False
        return isinstance(value, str) and value in target.ids


ResourceCheck = Callable[[str, Props, Config], list[str]]
StackCheck = Callable[[Sequence[StackResource], Config], list[str]]


@dataclass(frozen=True)
class Setting:
    """One key of a rule's config schema: its JSON schema and its default."""

    name: str
    schema: Mapping[str, Any]
    default: Any


@dataclass(frozen=True)
class Rule:
    """One policy over single resources."""

    name: str
    description: str
    severity: Severity
    remediation: str
    check: ResourceCheck
    control: str | None = None  # the FSBP control id, e.g. "RDS.9"
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class StackRule:
    """One policy over the whole stack."""

    name: str
    description: str
    severity: Severity
    remediation: str
    check: StackCheck
    control: str | None = None
    settings: tuple[Setting, ...] = ()


AnyRule = Rule | StackRule
# A setting several rules share: whether encryption at rest must use a customer-managed key.
CMK = Setting("requireCustomerManagedKey", {"type": "boolean"}, True)


def defaults(rule: AnyRule) -> dict[str, Any]:
    """The rule's settings at their schema defaults."""
    return {s.name: s.default for s in rule.settings}


def get(props: Any, *path: str) -> Any:
    """`props[path[0]][path[1]]...`, or None where a level is missing or not a mapping."""
    value: Any = props
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def items(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of a list input (None, or a non-list, is an empty list). The engine
    passes lists and maps as read-only proxies: Sequence and Mapping, never list or dict."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [v for v in value if isinstance(v, Mapping)]


def only(*types: str) -> Callable[[ResourceCheck], ResourceCheck]:
    """Decorate a check so that it runs on resources of `types` only."""

    def wrap(check: ResourceCheck) -> ResourceCheck:
        def checked(resource_type: str, props: Props, config: Config) -> list[str]:
            return check(resource_type, props, config) if resource_type in types else []

        checked.__doc__ = check.__doc__
        checked.__name__ = check.__name__
        return checked

    return wrap
