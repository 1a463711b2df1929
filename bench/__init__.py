"""Benchmarks for TrayLinx Keys: `python -m bench [SCENARIO ...]`.

Each scenario starts what it measures (usually the real service as a subprocess), drives it with a
load generator on 127.0.0.1 only, prints a table and writes JSON under bench/results/.
"""
