"""The local rehearsal substrate: real servers as processes on loopback.

`servers` starts one server at a time (PostgreSQL, Redis, the broker, HAProxy, Varnish,
Prometheus); `stack` brings the whole stack of a settings file up and down.
"""
