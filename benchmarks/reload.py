"""Moving weights by rewriting haproxy.cfg and reloading HAProxy, as a user without the
runtime API would.

The product starts HAProxy in the foreground (`haproxy -db -f haproxy.cfg`), not in
master-worker mode, and its stats socket has no `expose-fd listeners`, so the honest
reload is the classic one: start a new process with `-sf <old pid>`; it binds the same
ports (SO_REUSEPORT) and tells the old one to stop softly (finish what it is serving,
accept nothing new). This module implements that reload for the benchmark only; product
code is not changed. The new process is recorded in the stack's pids.json so that
`runbook local down` stops it.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from runbooks.core.model import Weights
from runbooks.local import record
from runbooks.local.process import LaunchError, port_open, spawn, started_or_stopped, wait_until

RELOAD_TIMEOUT = 10.0
_SERVER_LINE = re.compile(r"^(\s*server\s+(blue|green)\s+\S+\s+weight\s+)(\d+)", re.MULTILINE)


def with_weights(config: str, service: str, weights: Weights) -> str:
    """`config` with the blue/green `weight` of backend `be_<service>` set to `weights`.

    Only that backend's server lines change; raises ValueError when the backend is
    missing or does not have exactly one blue and one green server line.
    """
    start = config.index(f"\nbackend be_{service}\n")
    end = config.find("\nbackend ", start + 1)
    end = len(config) if end < 0 else end
    section, count = _SERVER_LINE.subn(
        lambda m: m.group(1) + str(weights.blue if m.group(2) == "blue" else weights.green),
        config[start:end],
    )
    if count != 2:
        raise ValueError(f"backend be_{service} has {count} blue/green server lines, not 2")
    return config[:start] + section + config[end:]


def reload_with_weights(state_dir: Path, service: str, weights: Weights) -> int:
    """Rewrite haproxy.cfg with `weights`, check it, and reload HAProxy; returns the new pid.

    Returns once the new process accepts connections and the old one has exited.
    """
    parts = record.load(state_dir)
    old = parts["haproxy"].server
    config = state_dir / "haproxy" / "haproxy.cfg"
    config.write_text(with_weights(config.read_text(), service, weights))
    subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True, capture_output=True)
    argv = ["haproxy", "-db", "-f", str(config), "-sf", str(old.pid)]
    new = spawn("haproxy", argv, old.log_path, old.port, cwd=config.parent)
    new.stop_signal = signal.SIGUSR1  # as the product's launcher: soft stop
    previous = parts["haproxy"]
    parts["haproxy"] = record.Part(new, previous.detail)
    record.save(state_dir, parts)  # recorded first: `down` must find whichever runs
    try:
        started_or_stopped(new, lambda: port_open(old.port), RELOAD_TIMEOUT)
    except (LaunchError, TimeoutError):
        parts["haproxy"] = previous  # the new one is stopped; the old one still serves
        record.save(state_dir, parts)
        raise
    try:
        wait_until(lambda: not old.alive(), RELOAD_TIMEOUT, f"old haproxy (pid {old.pid}) to exit")
    finally:
        old.stop()  # no-op once it has exited; never left running unrecorded
    return new.pid
