"""Parameters whose ids run consecutively, as a model made in one go has them.

The arena keeps every value and grad in arrays of their own, so the optimizers step a
run of consecutive ids as plain arrays, and a compiled layer whose neurons' weights
are such runs reads and writes them in place (csrc/optim.c, csrc/tape.c). Those fast
paths must give exactly the numbers of the id-at-a-time ones: torch float64 and the
eager graph are the references, and a model whose weight ids are scattered (which
takes the slower paths) must agree with one whose ids run, to the bit.

The dense kernels come in a copy for AVX-512 and a narrower one, and
MICROGRADC_NO_AVX512 makes the core take the narrower: both must give these bits.

Where a new Value's id lands depends on which ids earlier tests left free, so each
check runs in a fresh interpreter, where ids are handed out in order, and first
asserts the id layout it sets out to test.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def run_fresh(code, env=None):
    """code in a new interpreter with tests/ importable (and env added to its
    environment); it prints ok when every assertion in it held. Returns what it
    printed before."""
    # every block shares its work among a step's threads, however small
    env = {**os.environ, "MICROGRADC_THREAD_GRAIN": "0", **(env or {})}
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=TESTS,
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("ok"), run.stdout
    return run.stdout.strip()[:-2]


@pytest.mark.parametrize("kernels", ["widest", "no-avx512"])
def test_compiled_layers_whose_weight_ids_run_give_eager_bits_and_the_scattered_models_bits(
        kernels):
    run_fresh(COMPILED_CHECK, {"MICROGRADC_NO_AVX512": "1"} if kernels == "no-avx512" else {})


def test_the_avx512_kernels_and_the_narrower_ones_give_the_same_bits():
    # on a CPU without AVX-512 both runs take the narrower kernels (and still agree)
    widest = run_fresh(COMPILED_CHECK)
    narrower = run_fresh(COMPILED_CHECK, {"MICROGRADC_NO_AVX512": "1"})
    assert widest == narrower and len(widest) > 1000


COMPILED_CHECK = """
        import math
        import random
        import numpy as np
        from helpers import close, loss_of
        from microgradc import Value, compile
        from microgradc.nn import MLP
        from microgradc.optim import Adam

        def runs_in_order(model):
            return all([w._id for w in n.w] == list(range(n.w[0]._id, n.w[0]._id + len(n.w)))
                       for layer in model.layers for n in layer.neurons)

        def agree(a, b, largest):  # NaN where eager has NaN, else within 1e-12
            return repr(a) == repr(b) or close(a, b, 1e-12, 1e-12 * largest)

        # widths against the kernels' tiles (csrc/dense.h): inputs 8 to 64 at a time
        # with tails of 0 to 8, neurons 4, 8 or 16 at a time with tails of 1 to 7. ReLU
        # layers give many zero grads, which the weight grads leave out (tape.c). Every
        # model is made first, while no id has been freed
        models, fillers = [], []
        for activation in ['tanh', 'relu']:
            for nin, widths in [(21, [7, 3]), (16, [12, 5]), (70, [19, 3])]:
                random.seed(0)
                ordered = MLP(nin, widths, activation=activation)
                random.seed(0)
                scattered = MLP(nin, widths, activation=activation)
                for layer in scattered.layers:
                    for n in layer.neurons:
                        weights = []
                        for w in n.w:  # a filler between each two weights
                            weights.append(Value(w.data))
                            fillers.append(Value(0.0))
                        fillers.append(n.w)  # kept: no id is freed
                        n.w = weights
                assert runs_in_order(ordered) and not runs_in_order(scattered)
                models.append((nin, widths, {'ordered': ordered, 'scattered': scattered}))
        # weights whose ids run across a chunk's end, mid-neuron (csrc/tape.c, split_rows)
        CHUNK = 65536
        for activation, (nin, widths, variants) in zip(['tanh', 'relu'], models[2::3]):
            while Value(0.0)._id % CHUNK != CHUNK - 31:
                fillers.append(Value(0.0))
            random.seed(0)
            crossing = MLP(nin, widths, activation=activation)
            first = crossing.layers[0].neurons[0].w
            assert runs_in_order(crossing) and first[0]._id // CHUNK != first[-1]._id // CHUNK
            variants['crossing'] = crossing
        for nin, widths, variants in models:
            for rows in [1, 3, 5, 32, 33]:
                rng = np.random.default_rng(rows)
                X = rng.normal(size=(rows, nin))
                one_hot = np.eye(widths[-1])[rng.integers(0, widths[-1], rows)]
                steps = {name: [compile(loss_of(model, 0.0), X, one_hot, threads=t)
                                for t in (1, 3)] for name, model in variants.items()}
                opts = {name: Adam(model.parameters(), lr=0.05)
                        for name, model in variants.items()}
                for k in range(4):
                    X_k = X + 0.5 * k
                    if k == 3:  # an inf: its row's terms stay, even times a zero grad
                        X_k[0, 1] = math.inf
                    results = {}
                    for name, model in variants.items():
                        params = model.parameters()
                        for step in steps[name]:
                            loss, scores = step(X_k, one_hot)
                            results.setdefault(name, []).append(
                                (loss, scores.tolist(), [p.grad for p in params]))
                            step(X_k, one_hot)  # a second call adds to the grads
                            assert all(agree(b, 2 * a, 1e-300) for a, b in
                                       zip(results[name][-1][2], [p.grad for p in params]))
                            for p in params:
                                p.grad = 0.0
                        fn = loss_of(model, 0.0)
                        loss, scores = fn([[Value(x) for x in row] for row in X_k.tolist()],
                                          one_hot.tolist())
                        loss.backward()
                        eager = [p.grad for p in params]
                        assert k < 3 or any(math.isnan(g) for g in eager)
                        largest = max(abs(g) for g in eager if math.isfinite(g))
                        ours = results[name][0]
                        assert repr(ours[0]) == repr(loss.data), (nin, rows, k, name)
                        assert repr(ours[1]) == repr([[s.data for s in row] for row in scores])
                        assert all(agree(a, b, largest)
                                   for a, b in zip(ours[2], eager)), (nin, rows, k, name)
                        if k < 3:
                            opts[name].step()  # the next call reads the moved weights
                        opts[name].zero_grad()
                    # one thread or three, weights in runs, scattered or across chunks:
                    # the same bits
                    assert all(repr(r) == repr(results['ordered'][0])
                               for name in variants for r in results[name])
                    print(repr(results['ordered'][0]))
        print("ok")
"""


def test_optimizers_stepping_runs_of_ids_match_torch_across_a_chunk_edge_and_late_additions():
    run_fresh("""
        import math
        import torch
        from helpers import mismatches
        from microgradc import Value
        from microgradc.optim import SGD, Adam

        CHUNK = 65536  # ids per chunk of the arena
        fillers = []
        while True:  # up to 150 ids short of a chunk's end
            fillers.append(Value(0.0))
            if fillers[-1]._id % CHUNK == CHUNK - 151:
                break
        settings = [(Adam, dict(lr=0.05)), (Adam, dict(lr=0.02, betas=(0.3, 0.9), weight_decay=0.1)),
                    (SGD, dict(lr=0.1, momentum=0.9)), (SGD, dict(lr=0.1, weight_decay=0.01))]
        for make, kwargs in settings:
            start = [math.sin(i) for i in range(300)]
            ours = [Value(x) for x in start]
            if (make, kwargs) == settings[0]:  # its ids run straight across a chunk's end
                ids = [p._id for p in ours]
                assert ids == list(range(ids[0], ids[0] + 300))
                assert ids[0] // CHUNK != ids[-1] // CHUNK
            # the same parameters listed last to first: runs of one id each
            single = [Value(x) for x in start]
            theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in start]
            # the last 100 join after three steps: a run of ids, two step counts
            opt = make(ours[:200], **kwargs)
            sopt = make(single[199::-1], **kwargs)
            topt = getattr(torch.optim, make.__name__)(theirs[:200], **kwargs)
            for step in range(8):
                if step == 3:
                    opt.params.extend(ours[200:])
                    sopt.params.extend(single[:199:-1])
                    topt.add_param_group({'params': theirs[200:]})
                for i, (p, q, t) in enumerate(zip(ours, single, theirs)):
                    g = math.cos(1.7 * step + 0.3 * i) * 10.0 ** (i % 5 - 2)
                    p.grad = q.grad = g
                    t.grad = torch.tensor(g, dtype=torch.float64)
                opt.step()
                sopt.step()
                topt.step()
                assert [p.data for p in ours] == [q.data for q in single], (make, kwargs, step)
                assert not mismatches([p.data for p in ours], [t.item() for t in theirs],
                                      1e-12, 1e-14), (make, kwargs, step)
        print("ok")
    """)


def test_a_step_makes_an_int_parameter_print_as_a_float_across_a_run():
    run_fresh("""
        from microgradc import Value
        from microgradc.optim import Adam

        params = [Value(i) for i in range(100)]  # ints, in one run of ids
        assert [repr(p) for p in params[:2]] == ['Value(data=0, grad=0)', 'Value(data=1, grad=0)']
        opt = Adam(params[:70], lr=0.1)
        for p in params:
            p.grad = 1.0
        opt.step()
        assert all(repr(p).startswith('Value(data=') and '.' in repr(p).split(',')[0]
                   for p in params[:70])
        assert [repr(p) for p in params[70:72]] == ['Value(data=70, grad=1.0)',
                                                     'Value(data=71, grad=1.0)']
        print("ok")
    """)
