"""Vendor the OpenAPI v3 schemas of CustomResourceDefinitions as small JSON files.

Usage: `python -m infra.gates.vendor_crds OUT_DIR CRD.yaml...` (run by hand when bumping a
vendored release; see infra/gates/schemas/README.md). For every served version of every CRD
it writes `OUT_DIR/<group>/<kind>-<version>.json`: the version's `openAPIV3Schema` only
(descriptions dropped to keep the files small), so nothing but the schema is vendored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def strip_descriptions(node: Any) -> Any:
    """`node` without `description` keys (documentation, not validation)."""
    if isinstance(node, dict):
        return {
            k: strip_descriptions(v)
            for k, v in node.items()
            if not (k == "description" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def vendor(out_dir: Path, crd_files: list[Path]) -> list[Path]:
    """Write each served version's schema of the CRDs in `crd_files`; return the paths."""
    written: list[Path] = []
    for crd_file in crd_files:
        for doc in yaml.safe_load_all(crd_file.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                schema = strip_descriptions(version["schema"]["openAPIV3Schema"])
                path = out_dir / spec["group"] / f"{spec['names']['kind']}-{version['name']}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                written.append(path)
    return written


if __name__ == "__main__":
    for written_path in vendor(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]]):
        print(written_path)
