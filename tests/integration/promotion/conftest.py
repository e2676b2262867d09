"""Two private local stacks, `source` and `target`, each on its own ports and state dir,
their files side by side in one stacks dir; the target's file requires evidence from the
source. Brought up once for the module (each takes ~20-40 s), always torn down."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbooks.core.model import Weights
from runbooks.journal.base import Journal
from runbooks.journal.registry import JOURNALS
from runbooks.local.endpoints import endpoints
from runbooks.local.load import steady_load
from runbooks.routers.haproxy import HaproxyRouter
from runbooks.session import current_settings
from stackspec.model import Color
from stackspec.stackfile import PROJECT
from tests.integration.engine.conftest import SHORT_POLICY
from tests.integration.engine.harness import SERVICE, Stack, private_stack, run_runbook

SOURCE, TARGET = "source", "target"
LOAD_RATE = 100.0
KEY_ENV = {"RUNBOOK_EVIDENCE_KEY": "hmac:integration-secret-5f0c2a9e41d7"}


@dataclass(frozen=True)
class Pair:
    """The two stacks: their files in `stacks`, their journals under `state`."""

    root: Path
    source: Stack
    target: Stack

    @property
    def stacks(self) -> Path:
        """The dir holding both stack files."""
        return self.root / "stacks"

    @property
    def env(self) -> dict[str, str]:
        """The environment pointing the CLI at both stacks, with the signing key."""
        base = {k: v for k, v in self.source.env.items() if not k.startswith("RUNBOOK_")}
        return (
            base
            | KEY_ENV
            | {
                "RUNBOOK_STACKS_DIR": str(self.stacks),
                "RUNBOOK_STATE_DIR": str(self.root / "state"),
            }
        )

    def run(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`runbook ARGS` against the pair, to its end."""
        return run_runbook(self.env | dict(env or {}), args)

    def release(self, name: str, version: str) -> subprocess.CompletedProcess[str]:
        """A plain rollout of `version` on stack `name`, under user load."""
        stack = self.source if name == SOURCE else self.target
        with steady_load(stack.load_url, LOAD_RATE):
            return self.run("rollout", "-s", name, "--service", SERVICE, "--version", version)

    def journal(self, name: str) -> Journal:
        """The stack's journal, as the CLI opens it."""
        return JOURNALS.create("sqlite", state_dir=self.root / "state" / name)

    def weights(self, name: str) -> Weights:
        """The live split of the service in the stack's HAProxy."""
        settings = current_settings(name, self.stacks)
        return HaproxyRouter(socket_path=endpoints(settings).admin_socket).get_weights(SERVICE)

    def active(self, name: str) -> Color:
        """The color the stack's recorded state names active for the service."""
        return current_settings(name, self.stacks).service(SERVICE).active_color

    def set_promotion(self, **policy: Any) -> None:
        """Rewrite the target's `promotion` block (camelCase keys) over the current one."""
        path = self.stacks / f"Pulumi.{TARGET}.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        key = f"{PROJECT}:promotion"
        document["config"][key] = {**document["config"].get(key, {}), **policy}
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _copy_stack(stack: Stack, to: Path, promotion: Mapping[str, Any] | None = None) -> None:
    document = yaml.safe_load((stack.base / "stacks" / "Pulumi.local.yaml").read_text())
    if promotion is not None:
        document["config"][f"{PROJECT}:promotion"] = dict(promotion)
    to.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Both stacks up (one after the other, so their free ports cannot collide)."""
    root = tmp_path_factory.mktemp("promotion")
    (root / "stacks").mkdir()
    # `with` enters the source before it picks the target's ports: they cannot collide.
    with (
        private_stack("promo-src-", SHORT_POLICY) as source,
        private_stack("promo-dst-", SHORT_POLICY) as target,
    ):
        _copy_stack(source, root / "stacks" / f"Pulumi.{SOURCE}.yaml")
        policy = {"requireEvidenceFrom": SOURCE, "requiredSoakSeconds": 3600, "approvals": 1}
        _copy_stack(target, root / "stacks" / f"Pulumi.{TARGET}.yaml", policy)
        yield Pair(root, source, target)


def evidence_digest(path: Path) -> str:
    """The digest an evidence file records."""
    return str(json.loads(path.read_text(encoding="utf-8"))["digest"])
