"""Ports picked for private stacks: below the ephemeral range, never handed out twice."""

from __future__ import annotations

from runbooks.local.isolated import SERVICE_PORTS, free_local_ports
from runbooks.local.process import _ephemeral_low, free_port


def test_free_ports_are_below_the_ephemeral_range_and_distinct() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(port < _ephemeral_low() for port in ports)


def test_local_ports_do_not_overlap_the_services_block() -> None:
    ports = free_local_ports()
    base = ports["serviceBase"]
    block = set(range(base, base + SERVICE_PORTS))
    others = [port for key, port in ports.items() if key != "serviceBase"]
    assert not block & set(others)
    assert len(set(others)) == len(others)
