"""The one place names and versions typed by users are checked before anything uses them.

Stack names become file paths (`stacks/Pulumi.<stack>.yaml`, the state dir), versions reach
file paths (`migrations/<version>/`, evidence files), SQL comments and process arguments,
service names reach HAProxy backends and Kubernetes objects, and HAProxy backend/server
names go down the admin socket, where a newline or `;` would start another command. So
each has a charset and a length limit, checked with `re.fullmatch` (a `$` alone would let a
trailing newline through), and a refusal is a BadInput (exit 2) that shows the value cut
short: a 5000-character version is never echoed back whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackspec.errors import BadInput
from stackspec.safeload import shorten

# Defined here, not in the settings model (which uses them): checking a name on the
# command line must not import pydantic.
DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
VERSION = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"


@dataclass(frozen=True)
class Rule:
    """A kind of name: its pattern and how the pattern reads to a person."""

    kind: str
    pattern: str
    allowed: str

    def check(self, value: str, what: str | None = None) -> str:
        """`value` if it matches, else BadInput naming `what` (the option) and the rule."""
        if isinstance(value, str) and re.fullmatch(self.pattern, value):
            return value
        shown = shorten(str(value), 40)
        raise BadInput(
            f"{what or self.kind} {shown!r} is not a valid {self.kind}",
            hint=f"allowed: {self.allowed}",
        )


STACK = Rule(
    "stack name",
    r"[a-z][a-z0-9-]{0,39}",
    "a lower-case letter, then up to 39 letters, digits or '-' (e.g. local, staging)",
)
SERVICE = Rule(
    "service name",
    DNS_LABEL.strip("^$"),
    "a DNS label: lower-case letters, digits and '-', at most 63 characters",
)
VERSION_RULE = Rule(
    "version",
    VERSION.strip("^$"),
    "a letter or digit, then up to 63 letters, digits or . _ + - (e.g. 1.2.0)",
)
HAPROXY_NAME = Rule(
    "haproxy name",
    r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}",
    "letters, digits and . _ : - (no spaces, newlines or ';'), at most 64 characters",
)


def stack_name(value: str, what: str = "--stack") -> str:
    """`value` as a stack name, or BadInput."""
    return STACK.check(value, what)


def service_name(value: str, what: str = "--service") -> str:
    """`value` as a service name, or BadInput."""
    return SERVICE.check(value, what)


def version(value: str, what: str = "--version") -> str:
    """`value` as a version (also a migration folder's name), or BadInput."""
    return VERSION_RULE.check(value, what)


def haproxy_name(value: str, what: str = "haproxy name") -> str:
    """`value` as a backend, server or state name safe to send down the admin socket."""
    return HAPROXY_NAME.check(value, what)
