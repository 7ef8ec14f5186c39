"""Deep graphs, memory over many steps, and many threads at once."""
import math
import queue
import random
import subprocess
import sys
import textwrap

from helpers import memory_in_use, run_in_threads, settled_live_nodes
from microgradc import Value
from microgradc.engine import arena_bytes


def test_million_node_chain_backpropagates_to_hand_derived_grads_and_frees_every_node():
    baseline = settled_live_nodes()
    c, steps = 1.0000001, 500_000
    x0, a = Value(1.0), Value(0.5)
    x = x0
    for _ in range(steps):
        x = x * c + a  # two ops a step: one chain 1,000,000 ops deep
    x.backward()
    # x_n = x0 c^n + a (c^n - 1) / (c - 1), so dx_n/dx0 = c^n and dx_n/da = (c^n - 1) / (c - 1)
    power, geometric_sum = c**steps, (c**steps - 1) / (c - 1)
    assert math.isclose(x.data, power + 0.5 * geometric_sum, rel_tol=1e-9)
    assert math.isclose(x0.grad, power, rel_tol=1e-9)
    assert math.isclose(a.grad, geometric_sum, rel_tol=1e-9)
    del x, x0, a
    assert settled_live_nodes() == baseline  # released iteratively, not by recursion


# ---------------------------------------------------------------------------
# memory stays flat through a training-like loop


def build_backward_drop(step):
    """A small graph (about 20 ops), backpropagated, then dropped."""
    w, b = Value(0.5), Value(-0.25)
    loss = Value(0.0)
    for x in (step % 7, 1.0, -2.0, 3.5):
        loss = loss + ((w * x + b).tanh() - 1.0) ** 2
    (loss + w.relu() * b.sigmoid() + w.exp().log()).backward()


def test_memory_stays_flat_over_ten_thousand_build_backward_drop_cycles():
    baseline = settled_live_nodes()
    for step in range(1, 10_001):
        build_backward_drop(step)
        if step % 1000 == 0:
            assert settled_live_nodes() == baseline, step
        if step == 1000:
            memory_at_1000, arena_at_1000 = memory_in_use(), arena_bytes()
    assert arena_bytes() <= arena_at_1000
    assert memory_in_use() - memory_at_1000 < 1 << 20


# ---------------------------------------------------------------------------
# threads


def test_eight_threads_backpropagating_their_own_graphs_get_closed_form_grads():
    shared = Value(1.5)  # a parameter every thread reads as an operand
    iterations = 1000

    def work(t):
        for i in range(iterations):
            a, b = Value(t + 1.0), Value(i % 5 + 0.5)
            out = (a * b + shared) * a - b.relu()
            out.backward()
            # out = a^2 b + 1.5 a - b for b > 0; small halves, so every number is exact
            assert out.data == a.data**2 * b.data + 1.5 * a.data - b.data
            assert a.grad == 2 * a.data * b.data + 1.5
            assert b.grad == a.data**2 - 1

    assert run_in_threads(work) == []
    assert shared.data == 1.5
    # each backward adds its thread's a to shared.grad: integers, exact in any order
    assert shared.grad == iterations * sum(t + 1.0 for t in range(8))


def test_threads_sharing_extending_and_dropping_values_concurrently_free_every_node():
    baseline = settled_live_nodes()
    pool = [Value(float(k)) for k in range(32)]
    handoff = queue.SimpleQueue()  # values made in one thread, dropped in another

    def work(t):
        rng = random.Random(t)
        for i in range(2000):
            k = rng.randrange(len(pool))
            v = pool[k]
            # extend the chain, or drop it while other threads may still extend it
            pool[k] = v * 1.0 + 0.0 if rng.random() < 0.9 else Value(float(k))
            handoff.put(v * 2.0)
            if i % 2:
                handoff.get()
            if i % 100 == 0:
                pool[k].backward()
            assert v.data == k

    assert run_in_threads(work) == []
    assert [v.data for v in pool] == [float(k) for k in range(32)]
    while not handoff.empty():
        assert handoff.get().data % 2 == 0
    del pool
    assert settled_live_nodes() == baseline


def test_freed_nodes_interleaved_with_a_live_graph_are_never_swept_as_reached():
    # In a fresh interpreter (epochs and ids start from 1, so the run is the same every
    # time) two chains are built with interleaved ids and one is dropped; then the live
    # chain is backpropagated while the backward epoch counts through every id the dead
    # nodes held. A dead node must never look reached, whatever its memory still holds.
    # As in micrograd, every grad below the root accumulates over the calls: in call t
    # the node k products below the root receives C(t + k - 2, k - 1); start is 40 below.
    code = textwrap.dedent("""
        import math
        from microgradc import Value, dot
        from microgradc.engine import live_nodes
        start = Value(1.0)
        keep, drop = start, Value(1.0)
        for _ in range(40):
            keep = keep * 1.0
            # two dying n-ary children: when drop dies, one is left linked to the other
            drop = dot([drop], [1.0]) + dot([drop], [1.0])
        del drop
        live_nodes()  # releases the dropped facades' nodes now
        for t in range(1, 400):
            start.grad = 0.0
            keep.backward()
            if not math.isclose(start.grad, math.comb(t + 38, 39), rel_tol=1e-9):
                print(t, start.grad)
                break
        else:
            print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
