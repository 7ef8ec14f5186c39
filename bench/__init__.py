"""Benchmarks for microgradc, side by side with the reference micrograd.

Run from the repository root:

    python -m bench              # full run, 7 repeats
    python -m bench --quick      # smoke test, a few seconds
    python -m bench --out DIR    # also write every raw sample to DIR/results.json

Layout: `workloads` builds graphs from whichever Value class it is given,
`timing` takes samples and alternates engines, `__main__` prints the table.
Timing never goes into the test suite: tests check behaviour, benchmarks measure.
"""
