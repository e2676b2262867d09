"""Rewriting the weights of one HAProxy backend in its config text (pure, no servers)."""

from __future__ import annotations

import pytest

from benchmarks.reload import with_weights
from runbooks.core.model import Weights

CONFIG = """frontend fe_services
    use_backend be_trading-api if { hdr(host) -m beg trading-api. }
    default_backend be_trading-api

backend be_trading-api
    balance roundrobin
    server blue 127.0.0.1:9000 weight 100 check inter 1s fall 2 rise 2
    server green 127.0.0.1:9001 weight 0 check inter 1s fall 2 rise 2

backend be_other
    server blue 127.0.0.1:9002 weight 100 check
    server green 127.0.0.1:9003 weight 0 check
"""


def test_only_the_named_backend_changes() -> None:
    changed = with_weights(CONFIG, "trading-api", Weights(blue=10, green=90))
    assert "server blue 127.0.0.1:9000 weight 10 check inter 1s" in changed
    assert "server green 127.0.0.1:9001 weight 90 check inter 1s" in changed
    other = changed[changed.index("backend be_other") :]
    assert other == CONFIG[CONFIG.index("backend be_other") :]


def test_the_last_backend_of_the_file_can_change() -> None:
    changed = with_weights(CONFIG, "other", Weights(blue=0, green=100))
    assert "9002 weight 0 check" in changed and "9003 weight 100 check" in changed
    assert "9000 weight 100 check" in changed  # trading-api untouched


def test_a_backend_without_both_colors_is_refused() -> None:
    broken = CONFIG.replace("    server green 127.0.0.1:9003 weight 0 check\n", "")
    with pytest.raises(ValueError, match="1 blue/green server lines"):
        with_weights(broken, "other", Weights(blue=50, green=50))
    with pytest.raises(ValueError):
        with_weights(CONFIG, "missing", Weights(blue=50, green=50))
