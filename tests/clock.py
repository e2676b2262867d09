"""A clock for engine tests: time moves only when the engine sleeps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeClock:
    """`now()` returns `t`; `sleep(s)` adds `s` to it at once."""

    t: float = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
