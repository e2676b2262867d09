"""`<state>/pids.json`: what the local stack started, so another command can find and stop it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from runbooks.local.servers import Server


@dataclass
class Part:
    """One recorded process of the stack, with what it was started with (`detail`)."""

    server: Server
    detail: dict[str, str] = field(default_factory=dict)


def _path(state_dir: Path) -> Path:
    return state_dir / "pids.json"


def load(state_dir: Path) -> dict[str, Part]:
    """The recorded parts by name; empty when nothing was recorded."""
    try:
        raw = json.loads(_path(state_dir).read_text())
    except FileNotFoundError:
        return {}
    return {
        name: Part(
            Server(
                name=name,
                pid=e["pid"],
                port=e["port"],
                log_path=Path(e["log_path"]),
                stop_signal=e["stop_signal"],
            ),
            e.get("detail", {}),
        )
        for name, e in raw.items()
    }


def save(state_dir: Path, parts: dict[str, Part]) -> None:
    """Write the record atomically (a reader never sees half a file)."""
    entries = {
        name: {
            **asdict(p.server),
            "log_path": str(p.server.log_path),
            "stop_signal": int(p.server.stop_signal),
            "detail": p.detail,
        }
        for name, p in parts.items()
    }
    tmp = _path(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=2))
    os.replace(tmp, _path(state_dir))
