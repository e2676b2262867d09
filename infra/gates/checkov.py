"""The checkov gate: checkov on each stack's rendered manifests and Terraform-shaped plan.

checkov runs from its own tool venv (`.tools/checkov`, installed pinned by scripts/setup from
`tools/checkov.txt`: resolved with the project, its pins would hold boto3 at 1.35 and
kubernetes at 33 instead of 1.44 and 34), once per stack on a folder holding that stack's
manifests (`kubernetes` framework) and `terraform_plan` JSON, with `--skip-download`, no
platform key and, where the machine allows it (root), in a network
namespace of its own (`unshare -n`): it never reaches the network. A failed check fails
the gate unless `checkov_skips.yaml` lists it, with the reason, for that stack (and, when
the entry names `resources`, for those resources only, as checkov names them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from infra.gates.render import kubernetes_manifests, terraform_plan, unrendered
from infra.gates.result import Finding, GateResult
from infra.offline import PlannedResource
from stackspec.errors import RunbookError
from stackspec.stackfile import PROJECT_ROOT

CHECKOV = PROJECT_ROOT / ".tools" / "checkov" / "bin" / "checkov"
SKIPS_FILE = Path(__file__).with_name("checkov_skips.yaml")
FRAMEWORKS = ("kubernetes", "terraform_plan")
TIMEOUT_SECONDS = 240


class CheckovMissing(RunbookError):
    """checkov's tool venv is not installed: run scripts/setup."""


@dataclass(frozen=True)
class Skip:
    """A check the gate does not count, why, on which stacks and resources (None: all)."""

    check_id: str
    reason: str
    stacks: frozenset[str] | None
    resources: frozenset[str] | None = None

    def applies(self, stack: str, resource: str | None = None) -> bool:
        on_stack = self.stacks is None or stack in self.stacks
        return on_stack and (self.resources is None or resource in self.resources)


def load_skips(path: Path = SKIPS_FILE) -> dict[str, Skip]:
    """The skip list. Raises ValueError naming the file and entry if one has no reason."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    skips: dict[str, Skip] = {}
    for check_id, entry in raw.items():
        if not isinstance(entry, Mapping) or not str(entry.get("reason") or "").strip():
            raise ValueError(f"{path}: {check_id}: every skip needs a `reason` saying why")
        stacks, resources = entry.get("stacks"), entry.get("resources")
        skips[check_id] = Skip(
            check_id,
            str(entry["reason"]).strip(),
            frozenset(stacks) if stacks else None,
            frozenset(resources) if resources else None,
        )
    return skips


def write_inputs(folder: Path, stack: str, plan: list[PlannedResource], region: str) -> list[str]:
    """Write `stack`'s manifests and Terraform plan under `folder`; return what was left out."""
    manifests, left_out = kubernetes_manifests(plan)
    for index, manifest in enumerate(manifests):
        name = f"{index:03d}-{manifest.source.name}.yaml"
        (folder / name).write_text(yaml.safe_dump(manifest.body, sort_keys=False))
    document, unmapped = terraform_plan(plan, region)
    (folder / f"{stack}.tfplan.json").write_text(json.dumps(document, indent=1))
    return left_out + unmapped + unrendered(plan)


@cache
def no_network() -> tuple[str, ...]:
    """`unshare -n --` where this machine lets us run a command without any network (root,
    as in CI), so the gate is offline by construction; else nothing (--skip-download and no
    platform key already keep checkov from calling out)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "-n", "--", "true"], capture_output=True, check=False)
    return (unshare, "-n", "--") if probe.returncode == 0 else ()


def run_checkov(folder: Path) -> list[dict[str, Any]]:
    """checkov's JSON reports (one per framework) for the files in `folder`."""
    if not CHECKOV.exists():
        raise CheckovMissing(f"{CHECKOV} not found: run scripts/setup (installs checkov)")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    env.pop("BC_API_KEY", None)  # never the platform: offline by construction
    args = [
        *no_network(),
        str(CHECKOV),
        "--skip-download",
        "--quiet",
        "-o",
        "json",
        "-d",
        str(folder),
        "--framework",
        *FRAMEWORKS,
    ]
    proc = subprocess.run(
        args, capture_output=True, text=True, env=env, timeout=TIMEOUT_SECONDS, check=False
    )
    # checkov exits 1 when a check fails; anything else without JSON is a crash.
    try:
        reports = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise RunbookError(f"checkov exited {proc.returncode}: {proc.stderr[-2000:]}") from exc
    return reports if isinstance(reports, list) else [reports]


def judge(stack: str, reports: list[dict[str, Any]], skips: Mapping[str, Skip]) -> GateResult:
    """The gate's verdict on checkov's reports for `stack`."""
    result = GateResult("checkov", stack)
    for report in reports:
        if "results" not in report:  # a framework with no resources: an empty summary
            continue
        results, summary = report["results"], report["summary"]
        result.checked += summary.get("passed", 0) + summary.get("failed", 0)
        if summary.get("parsing_errors"):
            result.failures.append(
                Finding(
                    report["check_type"], "parse", f"{summary['parsing_errors']} files not parsed"
                )
            )
        for check in results.get("failed_checks", []):
            check_id, resource = check["check_id"], f"{report['check_type']} {check['resource']}"
            skip = skips.get(check_id)
            if skip and skip.applies(stack, check["resource"]):
                result.skipped.append(f"{check_id} {resource}: {skip.reason}")
            else:
                result.failures.append(Finding(resource, check_id, check["check_name"]))
    return result


def checkov_gate(
    plans: Mapping[str, list[PlannedResource]], region_of: Mapping[str, str]
) -> list[GateResult]:
    """Run checkov on every stack of `plans` (two at a time: the machine has two cores)."""
    skips = load_skips()

    def one(stack: str) -> GateResult:
        with tempfile.TemporaryDirectory(prefix=f"checkov-{stack}-") as tmp:
            left_out = write_inputs(Path(tmp), stack, plans[stack], region_of[stack])
            result = judge(stack, run_checkov(Path(tmp)), skips)
        result.unchecked.extend(left_out)
        return result

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, plans))
    # A skip that matched nothing on any stack no longer excuses anything: say so.
    used = {entry.split(" ", 1)[0] for result in results for entry in result.skipped}
    stale = sorted(set(skips) - used)
    for result in results if stale else ():
        result.note = f"skips that matched nothing, remove them: {', '.join(stale)}"
    return results
