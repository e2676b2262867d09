"""The configuration a sample service runs: loaded from `--config` at start, re-read on SIGHUP.

The file is any schema version of the service (see `runbooks/config`); it is converted up to
the newest schema, which is what the service's code reads (`live.settings`). Without
`--config` the service runs the newest schema's defaults and reports no version.

A reload that fails (unreadable file, bad YAML, a value the schema refuses) keeps the
previous configuration running: the failure is logged, counted in
`config_reloads_total{result="failed"}` and shown as `error` on /health until the next
successful reload. Reloads happen on a thread of their own: the SIGHUP handler only wakes it,
so no file is read inside a signal handler.

What the service reports, so a release step can tell which configuration a process runs:
- header `X-Config-Version` on every answer (`none` without a file);
- /health: `config_version`, and `config` = {version, file, reloads, error};
- gauge `service_config_version{service,color,version}` (0 without a file).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Gauge

from runbooks.config.convert import migrate
from runbooks.config.files import load_file
from runbooks.config.registry import schemas_for
from runbooks.config.schema import ConfigModel
from samples.web import ServiceMetrics
from stackspec.errors import RunbookError

HEADER = "X-Config-Version"


@dataclass(frozen=True)
class Snapshot:
    """One loaded configuration: replaced whole, so a request never sees half of a reload."""

    version: int | None
    settings: ConfigModel
    loaded_at: float


class LiveConfig:
    """The running configuration of one service process, and its reload machinery."""

    def __init__(self, service: str, path: Path | None, metrics: ServiceMetrics) -> None:
        self.service, self.path = service, path
        self.reloads, self.error = 0, ""
        self._wake = threading.Event()
        self._gauge = Gauge(
            "service_config_version",
            "Configuration version the process runs (0: built-in defaults)",
            ["service", "color", "version"],
            registry=metrics.registry,
        )
        self._counter = Counter(
            "config_reloads_total",
            "Configuration reloads by result",
            ["service", "color", "version", "result"],
            registry=metrics.registry,
        )
        self._labels = metrics.labels
        for result in ("ok", "failed"):
            self._counter.labels(**self._labels, result=result)
        self._snapshot = self._load()  # at start a bad file is fatal: nothing runs yet
        self._gauge.labels(**self._labels).set(self._snapshot.version or 0)

    @property
    def settings(self) -> Any:
        """The newest-schema model the service reads (typed per service by the caller)."""
        return self._snapshot.settings

    @property
    def version(self) -> int | None:
        """The configuration version running, None for the built-in defaults."""
        return self._snapshot.version

    def _load(self) -> Snapshot:
        schemas = schemas_for(self.service)
        if self.path is None:
            return Snapshot(None, schemas.defaults(), time.time())
        loaded = load_file(self.path, self.service)
        newest = migrate(self.service, loaded.document, loaded.version, schemas.newest)
        settings = schemas.models[schemas.newest].model_validate(newest)
        return Snapshot(loaded.version, settings, time.time())

    def reload(self) -> bool:
        """Re-read the file; on failure keep the running configuration. True if it loaded."""
        try:
            snapshot = self._load()
        except (RunbookError, OSError) as err:
            self.error = str(err)
            self._counter.labels(**self._labels, result="failed").inc()
            print(f"config reload failed, keeping v{self.version}: {err}", file=sys.stderr)
            ok = False
        else:
            self._snapshot, self.error = snapshot, ""
            self._gauge.labels(**self._labels).set(snapshot.version or 0)
            self._counter.labels(**self._labels, result="ok").inc()
            print(f"config reloaded: v{snapshot.version} from {self.path}", flush=True)
            ok = True
        # Counted last: a poller that sees the count move also sees this reload's result.
        self.reloads += 1
        sys.stderr.flush()
        return ok

    def reload_on_sighup(self) -> None:
        """Install the SIGHUP handler (main thread only) and start the reload thread."""
        signal.signal(signal.SIGHUP, lambda *_: self._wake.set())
        threading.Thread(target=self._reload_forever, name="config-reload", daemon=True).start()

    def _reload_forever(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self.reload()

    def headers(self) -> dict[str, str]:
        """The headers every answer carries."""
        return {HEADER: "none" if self.version is None else str(self.version)}

    def status(self) -> dict[str, Any]:
        """What /health shows under `config`."""
        return {
            "version": self.version,
            "file": None if self.path is None else str(self.path),
            "reloads": self.reloads,
            "error": self.error or None,
            "loaded_at": self._snapshot.loaded_at,
        }
