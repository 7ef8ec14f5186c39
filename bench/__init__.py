"""Benchmarks for microgradc, beside the reference micrograd and PyTorch.

Run from the repository root:

    python -m bench                      # every workload, 7 repeats (about 10 minutes)
    python -m bench --quick              # smoke test, under a minute
    python -m bench --only moons chain   # some workloads
    python -m bench --out DIR            # results.json, speedup.png in DIR

By default each kind of run writes to its own folder: bench-results/full/,
bench-results/quick/, bench-results/only-moons-chain/, ... It needs matplotlib
and scikit-learn (pip install -e ".[bench]"), and checks for them first.

Layout: one module per workload family (ops, moons, classify: digits and mnist,
gpt, scaling, chain), each with its code for every engine; `engines` says which engines
are installed; `graphs` builds the engine-core graphs; `timing` takes samples and
alternates the engines; `report` makes the table and the chart; `__main__` runs them.
Timing never goes into the test suite: tests check behaviour, benchmarks measure.
"""
