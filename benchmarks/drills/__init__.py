"""Drills (issue 14): faults, load and bad input against the real local stack, with figures.

`python -m benchmarks.drills [name ...] [--short]` (`make drills`) brings up a private local
stack (free ports, a temp dir: never the user's), runs each drill, prints one JSON line per
drill on stdout (`result.DrillResult`: its figures against their targets, the machine's
load average, details) and then a summary table on stderr. `--short` runs the short form
that tests/drills runs inside `make test`.

Drills: crash (kill -9 at 20 points), metrics-outage, router-outage, load, data, and the
concurrency / bad-input / secrets drills over the corpus in `benchmarks/drills/corpus.py`.
"""
