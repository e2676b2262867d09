"""Measured figures of the release engine against baselines taken in the same run.

Run with `uv run python -m benchmarks` (or `make bench`); see benchmarks/README.md.
"""
