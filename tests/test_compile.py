"""microgradc.compile against the eager graph, torch float64 and hand-derived numbers.

The eager graph (Values built op by op, then backward()) runs through the arena
and graph.c; a compiled step replays a frozen tape through tape.c. They share
only the per-op rules, so the eager graph of the same function is this file's
main reference: same loss, same extras, same parameter grads (relative 1e-12),
call after call of a training run. torch float64 checks the compiled gradients
independently of both.

"Same" is to rounding, not to the bit. The eager backward adds a node's incoming
grads in the order of its parents' ids, and which ids a graph gets depends on
what the arena held before; so two eager runs of one function in one process can
differ in the last bits (after tests/test_bench_smoke.py's deep chain, two
identically seeded eager moons models part from the second step), and a grad
that cancels to near zero keeps only an absolute accuracy. Lists of numbers are compared element by element to 1e-12
relative, or to 1e-12 of the largest of them.
"""
import math
import random
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import make_moons

from helpers import close, memory_in_use, mismatches, run_in_threads, settled_live_nodes
from microgradc import Value, compile, dot, losses
from microgradc.compile import TracerWarning
from microgradc.engine import arena_bytes
from microgradc.nn import MLP
from microgradc.optim import SGD

STEPS = 50
REL = 1e-12
# torch's libm and reduction order differ from ours by ulps; grads that cancel
# to ~0 need a small absolute floor
TORCH_REL, TORCH_ABS = 1e-12, 1e-15


def nested(array, leaf):
    """array as nested lists of leaf(x), one per element (a 0-d array gives one leaf)."""
    array = np.asarray(array)
    if array.ndim == 0:
        return leaf(float(array))
    return [nested(row, leaf) for row in array]


def flat(values):
    """The Values (or numbers) of nested lists, in order."""
    if isinstance(values, (list, tuple)):
        return [x for v in values for x in flat(v)]
    return [values]


def data(values):
    return [v.data for v in flat(values)]


def grads(values):
    return [v.grad for v in values]


def assert_same(actual, expected, what, rel=REL, abs_tol=None):
    """Each actual within rel of its expected number, or within abs_tol (by default rel
    times the largest finite expected magnitude); nan matches nan, infinities exactly."""
    actual, expected = list(actual), list(expected)
    if abs_tol is None:
        abs_tol = rel * max((abs(e) for e in expected if math.isfinite(e)), default=0.0)
    wrong = mismatches(actual, expected, rel, abs_tol)
    assert not wrong, f"{what}: (index, actual, expected) {wrong[:5]}"


def eager(fn, *arrays):
    """fn on fresh input Values holding arrays, then backward(): (loss, extra data or None)."""
    result = fn(*[nested(a, Value) for a in arrays])
    loss, extra = result if isinstance(result, tuple) else (result, None)
    loss.backward()
    return loss.data, (None if extra is None else data(extra))


# ---------------------------------------------------------------------------
# training runs: compiled and eager, step for step


def moons():
    """micrograd's demo data and model, seeded as its notebook."""
    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    return X, y * 2 - 1, MLP(2, [16, 16, 1])


def test_compiled_moons_training_has_the_eager_loss_scores_grads_and_parameters_for_50_steps():
    X, y, eager_model = moons()
    _, _, compiled_model = moons()
    assert eager_model.state_dict() == compiled_model.state_dict()

    def loss_fn(points, labels):
        scores = [compiled_model(point) for point in points]
        return losses.hinge(scores, labels) + 1e-4 * losses.l2(compiled_model.parameters()), scores

    step = compile(loss_fn, X, y)
    eager_params, compiled_params = eager_model.parameters(), compiled_model.parameters()
    eager_opt, compiled_opt = SGD(eager_params, lr=1.0), SGD(compiled_params, lr=1.0)
    trajectory = []
    for k in range(STEPS):
        scores = [eager_model(point) for point in X.tolist()]
        loss = losses.hinge(scores, y.tolist()) + 1e-4 * losses.l2(eager_params)
        eager_opt.zero_grad()
        loss.backward()
        compiled_opt.zero_grad()
        compiled_loss, compiled_scores = step(X, y)

        assert close(compiled_loss, loss.data, REL), (k, compiled_loss, loss.data)
        assert compiled_scores.shape == (100,)
        assert_same(compiled_scores, data(scores), f"step {k} scores")
        assert_same(grads(compiled_params), grads(eager_params), f"step {k} grads")
        for opt in (eager_opt, compiled_opt):
            opt.lr = 1.0 - 0.9 * k / 100
            opt.step()
        assert_same(data(compiled_params), data(eager_params), f"step {k} parameters")
        trajectory.append(compiled_loss)
    assert trajectory[-1] < 0.5 * trajectory[0]  # the model moved: every step compared a new one


# the every-op model, written once for microgradc Values and for torch float64 scalars

MICROGRADC = SimpleNamespace(dot=dot, mse=losses.mse, hinge=losses.hinge, l2=losses.l2,
                             binary_cross_entropy=losses.binary_cross_entropy,
                             softmax_cross_entropy=losses.softmax_cross_entropy)


def torch_scalar(x, requires_grad=False):
    return torch.tensor(x, dtype=torch.float64, requires_grad=requires_grad)


def stacked(values):
    """A float64 tensor of 0-d tensors or numbers, still connected to their graphs."""
    return torch.stack([v if torch.is_tensor(v) else torch_scalar(float(v)) for v in values])


def torch_softmax_cross_entropy(rows, targets):
    logits = torch.stack([stacked(row) for row in rows])
    if isinstance(targets[0], (list, tuple)):
        return F.cross_entropy(logits, torch.stack([stacked(row) for row in targets]))
    return F.cross_entropy(logits, torch.tensor(targets))


TORCH = SimpleNamespace(
    dot=lambda ws, xs, bias=None: sum((w * x for w, x in zip(ws, xs)), 0.0 if bias is None else bias),
    mse=lambda preds, targets, reduction='mean': F.mse_loss(stacked(preds), stacked(targets),
                                                            reduction=reduction),
    hinge=lambda scores, ys: (1 - stacked(ys) * stacked(scores)).relu().mean(),
    l2=lambda params: sum(p * p for p in params),
    binary_cross_entropy=lambda logits, targets: F.binary_cross_entropy_with_logits(
        stacked(logits), stacked(targets)),
    softmax_cross_entropy=torch_softmax_cross_entropy,
)


def every_op_model(ops, params, x, t, probs, s):
    """Every op, every fused loss, numbers on either side, intermediate nodes reused.

    params: 7 scalars (4 weights, a, b, c); x: 4 rows of 4 inputs; t: 4 targets in
    [0, 1]; probs: 2 rows of 3 class probabilities; s: one input in [0.5, 1.5].
    Returns (loss, [h, u]). Every log, root, power and division is of a positive number.
    """
    w, (a, b, c) = params[:4], params[4:]
    h = [ops.dot(w, row, b) for row in x]  # four dots with a bias
    g = [ops.dot(w, row) for row in x]  # four without
    u = [hi.tanh() for hi in h]
    shared = u[0] * u[1]
    r = [(hi - a * c).relu() + 0.1 for hi in h]  # on for some rows, off for others
    arithmetic = (shared + shared * 2 - (-shared) / (1.5 + u[2] ** 2) + (u[3] + 3) ** -1
                  + (3 - u[1]) * (u[0] - 1) + 1 / (2 + g[2].tanh()) + u[1] / 2
                  + s * shared + shared * s - g[0] * 0.5 - a + b * c)
    transcendental = ((u[0] + 2).log() + (0.5 * u[1]).exp() + g[1].sigmoid()
                      + (2 + shared).log() * r[0] + (-g[3]).tanh().exp())
    powers = ((r[1] + 1.0) ** 1.5 + (a.sigmoid() + 0.5) ** (u[1] * 0.5) + 2 ** u[2]
              + (r[2] + 0.5) ** 0.5 + s ** 2 + (s + shared) ** s + u[3] ** 3)
    fused = ops.dot([u[0], 2.0, shared], [s, u[1], 3.0])
    loss_terms = [
        ops.mse(u + [0.25], t + [shared]),
        ops.mse([hi.sigmoid() for hi in h[:3]], [0.5, t[0], 0.25], reduction='sum'),
        ops.hinge(h + [shared], [1, -1, 1, -1, -1]),
        ops.l2(params + [shared]),
        ops.binary_cross_entropy([h[0], shared, 0.5, g[1]], [0.0, t[1], 1.0, t[3]]),
        ops.softmax_cross_entropy([[h[0], u[1], 2.0], [shared, a, g[2]]], [0, 2]),
        ops.softmax_cross_entropy([[u[0], h[1], c], [r[0], 1.0, shared]], probs),
    ]
    loss = 0.1 * (arithmetic + transcendental + powers) + fused * 0.1 + sum(loss_terms) - shared
    return loss, [h, u]


def every_op_params(leaf, seed=0):
    rng = random.Random(seed)
    return [leaf(rng.uniform(-0.5, 0.5)) for _ in range(7)]


def every_op_inputs(seed):
    """One draw of the every-op model's inputs: x, t, probs, s."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return rng.normal(size=(4, 4)), rng.uniform(0, 1, size=4), probs, np.array(rng.uniform(0.5, 1.5))


def compile_every_op_model(params):
    return compile(lambda *inputs: every_op_model(MICROGRADC, params, *inputs), *every_op_inputs(0))


def ops_reached(root):
    """The _op strings of every node the root reaches."""
    seen, pending, ops = {root}, [root], set()
    while pending:
        node = pending.pop()
        ops.add(node._op)
        for child in node._prev:
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return ops


def test_the_every_op_model_reaches_every_op_and_every_fused_loss():
    inputs = [nested(a, Value) for a in every_op_inputs(0)]
    loss, _ = every_op_model(MICROGRADC, every_op_params(Value), *inputs)
    assert ops_reached(loss) >= {'', '+', '-', '*', '/', 'neg', '**2', '**-1', '**3', '**1.5', '**0.5',
                                 '**', 'ReLU', 'tanh', 'exp', 'log', 'sigmoid', 'dot',
                                 'mse', 'hinge', 'l2', 'bce', 'softmax_ce'}


def test_compiled_every_op_model_has_the_eager_loss_extras_grads_and_parameters_for_50_steps():
    eager_params, compiled_params = every_op_params(Value), every_op_params(Value)
    step = compile_every_op_model(compiled_params)
    eager_opt, compiled_opt = SGD(eager_params, lr=0.05), SGD(compiled_params, lr=0.05)
    for k in range(STEPS):
        inputs = every_op_inputs(k + 1)  # new data every step
        eager_opt.zero_grad()
        loss, extra = eager(lambda *xs: every_op_model(MICROGRADC, eager_params, *xs), *inputs)
        compiled_opt.zero_grad()
        compiled_loss, compiled_extra = step(*inputs)

        assert math.isfinite(loss) and close(compiled_loss, loss, REL), (k, compiled_loss, loss)
        assert compiled_extra.shape == (2, 4)
        assert_same(compiled_extra.ravel(), extra, f"step {k} extras")
        assert all(math.isfinite(g) and g != 0.0 for g in grads(eager_params))
        assert_same(grads(compiled_params), grads(eager_params), f"step {k} grads")
        eager_opt.step()
        compiled_opt.step()
        assert_same(data(compiled_params), data(eager_params), f"step {k} parameters")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_every_op_model_matches_torch_float64_loss_and_parameter_grads(seed):
    params = every_op_params(Value)
    step = compile_every_op_model(params)
    inputs = every_op_inputs(seed)
    loss, extra = step(*inputs)

    torch_params = every_op_params(lambda x: torch_scalar(x, requires_grad=True))
    torch_loss, [h, u] = every_op_model(TORCH, torch_params, *[nested(a, torch_scalar) for a in inputs])
    torch_loss.backward()
    assert close(loss, torch_loss.item(), TORCH_REL, TORCH_ABS), (loss, torch_loss.item())
    assert_same(extra.ravel(), [v.item() for v in h + u], "extras", TORCH_REL, TORCH_ABS)
    assert_same(grads(params), [p.grad.item() for p in torch_params], "grads", TORCH_REL, TORCH_ABS)


# ---------------------------------------------------------------------------
# inputs: one nested list of leaves per array


def test_each_array_is_traced_as_nested_lists_of_leaves_of_its_shape_holding_its_numbers():
    arrays = [np.arange(6.0).reshape(2, 3), np.array(7.5), np.arange(4.0).reshape(2, 1, 2), np.array([1, 2])]
    traced = []

    def fn(*inputs):
        traced.append(inputs)
        return sum(sum(flat(i)) for i in inputs)

    compile(fn, *arrays)
    assert len(traced) == 1  # fn runs once, at compile time
    matrix, scalar, cube, ints = traced[0]
    assert isinstance(scalar, Value) and scalar.data == 7.5  # a 0-d array is one Value
    for inputs, array in [(matrix, arrays[0]), (cube, arrays[2]), (ints, arrays[3])]:
        assert np.array(data(inputs)).reshape(array.shape).tolist() == array.tolist()
        assert all(isinstance(v, Value) and v._op == '' for v in flat(inputs))  # leaves
    assert [len(row) for row in matrix] == [3, 3]
    assert [[len(col) for col in plane] for plane in cube] == [[2], [2]]
    assert len(set(flat(traced[0]))) == 6 + 1 + 4 + 2  # a new leaf for every element


def test_compiling_runs_no_backward_and_leaves_grads_alone():
    w = [Value(0.5), Value(-2.0)]
    compile(lambda x: dot(w, x).tanh(), np.array([1.0, 3.0]))
    assert grads(w) == [0.0, 0.0]


def test_a_call_with_new_data_gives_the_eager_result_for_that_data_in_every_shape():
    w, b = [Value(0.3), Value(-0.7)], Value(0.1)

    def fn(matrix, scalar, cube):
        rows = [dot(w, row, b).tanh() * scalar for row in matrix]
        return sum(rows) + sum(flat(cube)).sigmoid() ** 2 / scalar, [rows[:2], cube[1][0]]

    examples = [np.zeros((3, 2)), np.array(1.0), np.zeros((2, 1, 2))]
    step = compile(fn, *examples)
    rng = np.random.default_rng(5)
    for _ in range(5):
        arrays = [rng.normal(size=a.shape) for a in examples]
        arrays[1] = np.array(rng.uniform(0.5, 2.0))
        for p in w + [b]:
            p.grad = 0.0
        loss, extra = step(*arrays)
        compiled_grads = grads(w + [b])
        for p in w + [b]:
            p.grad = 0.0
        eager_loss, eager_extra = eager(fn, *arrays)
        assert close(loss, eager_loss, REL)
        assert_same(flat(extra.tolist()), eager_extra, "extras")
        assert extra[1].tolist() == arrays[2][1][0].tolist()  # an input leaf as an extra: the new data
        assert_same(compiled_grads, grads(w + [b]), "grads")


def test_integer_bool_float32_and_non_contiguous_arrays_are_read_as_their_float64_values():
    w = [Value(0.5), Value(-1.5), Value(2.0)]
    step = compile(lambda x: dot(w, x).tanh(), np.zeros(3))
    base = np.arange(12.0).reshape(3, 4) / 8
    as_float64 = step(np.array([1.0, -2.0, 3.0]))
    assert step(np.array([1, -2, 3])) == as_float64
    assert step(np.array([1, -2, 3], dtype=np.int8)) == as_float64
    assert step(np.array([1, -2, 3], dtype=np.float32)) == as_float64
    assert step(np.array([1.0, -2.0, 3.0], dtype='>f8')) == as_float64  # big-endian
    assert step([1.0, -2.0, 3.0]) == as_float64  # anything np.asarray takes
    assert step(np.array([True, False, True])) == step(np.array([1.0, 0.0, 1.0]))
    assert step(base[:, 1]) == step(np.ascontiguousarray(base[:, 1]))  # a strided column
    assert step(base.T[2, :3]) == step(np.array(base.T[2, :3]))


def test_an_input_the_loss_does_not_reach_is_accepted_and_changes_nothing():
    w = Value(2.0)
    step = compile(lambda x, unused: x[0] * w, np.zeros(2), np.zeros((2, 2)))
    assert step(np.array([3.0, 0.0]), np.ones((2, 2))) == 6.0
    assert step(np.array([3.0, 0.0]), np.full((2, 2), np.nan)) == 6.0
    assert w.grad == 6.0


# ---------------------------------------------------------------------------
# outputs: the loss, and extras shaped as fn returned them


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (3, 1, 2)], ids=str)
def test_extras_come_back_as_a_float64_array_of_their_nested_shape_equal_to_the_eager_values(shape):
    w = Value(0.75)
    size = int(np.prod(shape))

    def fn(x):
        outs = [(xi * w).tanh() - i for i, xi in enumerate(x)]
        extra = np.array(outs[:size], dtype=object).reshape(shape).tolist() if shape else outs[0]
        return sum(outs), extra

    x = np.linspace(-1.0, 2.0, 6)
    step = compile(fn, np.zeros(6))
    loss, extra = step(x)
    eager_loss, eager_extra = eager(fn, x)
    assert type(loss) is float and close(loss, eager_loss, REL)
    assert isinstance(extra, np.ndarray) and extra.dtype == np.float64 and extra.shape == shape
    assert_same(extra.ravel(), eager_extra, "extras")


def test_a_call_without_extras_returns_the_loss_as_a_float():
    w = Value(0.75)
    loss = compile(lambda x: (x * w).exp(), np.array(1.0))(np.array(2.0))
    assert type(loss) is float and close(loss, math.exp(1.5), REL)


def test_extras_returned_by_one_call_are_not_overwritten_by_the_next():
    step = compile(lambda x: (x[0] * 1.0, [x[0] * 2.0, x[1] + 0.0]), np.zeros(2))
    _, first = step(np.array([1.0, 2.0]))
    _, second = step(np.array([5.0, 7.0]))
    assert first.tolist() == [2.0, 2.0] and second.tolist() == [10.0, 7.0]


def test_an_extra_off_the_loss_path_is_computed_but_sends_no_grad_as_eager_backward():
    w, v = Value(1.5), Value(-0.5)  # v feeds only the extras

    def fn(x):
        # (x1 * w).log() at x1 = 0 has an infinite slope: any grad sent through it
        # (even 0 * inf) would turn w.grad into nan
        return x[0] * w, [x[1] * v, v, w, (x[1] * w).log()]

    x = np.array([2.0, 0.0])
    step = compile(fn, x)
    loss, extra = step(x)
    assert loss == 3.0 and extra.tolist() == [-0.0, -0.5, 1.5, -math.inf]
    assert (w.grad, v.grad) == (2.0, 0.0)
    eager(fn, x)
    assert (w.grad, v.grad) == (4.0, 0.0)


def test_the_loss_may_also_be_among_the_extras():
    w = Value(3.0)

    def fn(x):
        loss = x[0] * w
        return loss, [loss, x[0] + loss]

    loss, extra = compile(fn, np.zeros(1))(np.array([2.0]))
    assert (loss, extra.tolist(), w.grad) == (6.0, [6.0, 8.0], 2.0)


def test_a_function_of_the_parameters_alone_compiles_with_no_arrays():
    w = [Value(1.5), Value(-2.0)]
    step = compile(lambda: losses.l2(w) + w[0] * w[1])
    assert step() == 1.5 ** 2 + 2.0 ** 2 - 3.0
    assert grads(w) == [2 * 1.5 - 2.0, 2 * -2.0 + 1.5]


def test_fn_returning_no_value_or_extras_that_are_not_values_raises_type_error():
    with pytest.raises(TypeError, match="must return a Value"):
        compile(lambda x: 1.0, np.zeros(2))
    with pytest.raises(TypeError, match="extra outputs must be Values"):
        compile(lambda x: (x[0] * 2, [x[1], 3.0]), np.zeros(2))


def test_ragged_extras_raise_value_error():
    with pytest.raises(ValueError, match="one shape"):
        compile(lambda x: (x[0] * 2, [[x[0]], [x[1], x[2]]]), np.zeros(3))


# ---------------------------------------------------------------------------
# parameters are read live and their grads accumulate


def small_model():
    """An MLP, a loss over a batch of 5 points, and data; the loss is smooth in every parameter."""
    random.seed(3)
    model = MLP(2, [4, 1], activation='tanh')
    X = np.random.default_rng(3).normal(size=(5, 2))
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])

    def loss_fn(points, labels):
        return losses.mse([model(p) for p in points], labels)

    return model, loss_fn, X, y


def eager_loss_and_grads(model, loss_fn, X, y):
    """loss_fn's eager loss and grads with the model as it is now; leaves grads at zero."""
    model.zero_grad()
    loss, _ = eager(loss_fn, X, y)
    result = loss, grads(model.parameters())
    model.zero_grad()
    return result


def test_an_optimizer_step_between_calls_is_seen_by_the_next_call():
    model, loss_fn, X, y = small_model()
    step = compile(loss_fn, X, y)
    opt = SGD(model.parameters(), lr=0.5)
    first = step(X, y)
    opt.step()
    opt.zero_grad()
    expected_loss, expected_grads = eager_loss_and_grads(model, loss_fn, X, y)
    assert expected_loss < first  # the step moved the loss
    assert close(step(X, y), expected_loss, REL)
    assert_same(grads(model.parameters()), expected_grads, "grads")


def test_a_parameter_set_by_hand_between_calls_is_seen_by_the_next_call():
    model, loss_fn, X, y = small_model()
    step = compile(loss_fn, X, y)
    before = step(X, y)
    model.layers[0].neurons[2].w[1].data = 3.0
    model.layers[1].neurons[0].b.data = -1.0
    expected_loss, expected_grads = eager_loss_and_grads(model, loss_fn, X, y)
    assert not close(expected_loss, before, 1e-6)
    assert close(step(X, y), expected_loss, REL)
    assert_same(grads(model.parameters()), expected_grads, "grads")


def test_grads_accumulate_across_calls_as_repeated_eager_backward_on_fresh_graphs():
    model, loss_fn, X, y = small_model()
    step = compile(loss_fn, X, y)
    params = model.parameters()
    for p in params:
        p.grad = 0.25  # grads already there are added to, not replaced
    eager(loss_fn, X, y)
    eager(loss_fn, X, y)
    eager_twice = grads(params)
    for p in params:
        p.grad = 0.25
    step(X, y)
    once = [g - 0.25 for g in grads(params)]
    step(X, y)
    assert_same(grads(params), eager_twice, "two calls against two eager backwards")
    assert_same([g - 0.25 for g in grads(params)], [2 * g for g in once], "two calls against twice one")


# ---------------------------------------------------------------------------
# bad input


def two_array_step():
    w = Value(2.0)
    step = compile(lambda X, y: sum(xi * w for row in X for xi in row) * y, np.zeros((4, 2)), np.array(1.0))
    return w, step


def test_a_wrong_number_of_arrays_raises_value_error_naming_the_count():
    _, step = two_array_step()
    with pytest.raises(ValueError, match="expected 2 arrays, got 1"):
        step(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="expected 2 arrays, got 3"):
        step(np.zeros((4, 2)), np.array(1.0), np.array(1.0))


@pytest.mark.parametrize("X, y, expected", [
    (np.zeros((2, 4)), np.array(1.0), (4, 2)),
    (np.zeros(8), np.array(1.0), (4, 2)),
    (np.zeros((4, 2, 1)), np.array(1.0), (4, 2)),
    (np.zeros((4, 2)), np.array([1.0]), ()),
], ids=["transposed", "flattened", "extra-axis", "1-d-for-0-d"])
def test_a_wrong_shape_raises_value_error_naming_the_expected_shape(X, y, expected):
    w, step = two_array_step()
    with pytest.raises(ValueError, match=re.escape(f"must have shape {expected}")):
        step(X, y)
    assert w.grad == 0.0  # a refused call runs nothing
    assert step(np.ones((4, 2)), np.array(0.5)) == 8.0  # and leaves the step usable


@pytest.mark.parametrize("bad", [
    np.array(["a", "b"]), np.array([b"a", b"b"]), np.array([1.0, None], dtype=object),
    np.array([1.0, 2.0], dtype=object), np.array([1 + 0j, 2 + 0j]),
], ids=["str", "bytes", "object", "object-of-floats", "complex"])
def test_a_non_numeric_array_raises_type_error_when_compiling_and_when_calling(bad):
    with pytest.raises(TypeError, match="real numbers"):
        compile(lambda x: x[0] + x[1], bad)
    w = Value(1.0)
    step = compile(lambda x: (x[0] + x[1]) * w, np.zeros(2))
    with pytest.raises(TypeError, match="real numbers"):
        step(bad)
    assert w.grad == 0.0


@pytest.mark.parametrize("x", [
    [math.nan, 1.0, 2.0], [math.inf, -1.0, 0.5], [-math.inf, 2.0, 1.0],
    [1.0, math.inf, -math.inf], [math.nan, math.inf, -math.inf],
])
def test_nan_and_inf_inputs_pass_through_as_ieee_numbers_like_the_eager_graph(x):
    w = [Value(0.5), Value(-1.5), Value(2.0)]

    def fn(xs):
        z = dot(w, xs)
        return (z.tanh() + (xs[0] * w[0]).relu() + (xs[1] * w[1]).exp() - xs[2] / w[2]
                + losses.mse(xs, [0.0, 1.0, 2.0]) + losses.binary_cross_entropy([z], [1.0])
                + losses.hinge([z, xs[2]], [1, -1])
                + losses.softmax_cross_entropy([[z, xs[0], w[2]]], [1])), [z, xs[2] / w[2]]

    step = compile(fn, np.zeros(3))
    loss, extra = step(np.array(x))
    compiled_grads = grads(w)
    for p in w:
        p.grad = 0.0
    eager_loss, eager_extra = eager(fn, np.array(x))
    assert not all(map(math.isfinite, [loss, *extra, *compiled_grads]))  # the edge case reached the outputs
    assert close(loss, eager_loss), (loss, eager_loss)
    assert_same(extra, eager_extra, "extras")
    assert_same(compiled_grads, grads(w), "grads")


# ---------------------------------------------------------------------------
# tracing freezes python decisions


def test_a_python_branch_on_data_is_taken_at_trace_time_and_replayed_as_taken():
    def fn(x):
        if x.data > 0:
            return x * 2.0
        return x * -3.0

    with pytest.warns(TracerWarning):  # the if reads an input's .data
        step = compile(fn, np.array(1.0))  # traced on the positive branch
    assert step(np.array(-4.0)) == -8.0  # the x * 2 branch, though x is now negative
    assert eager(fn, np.array(-4.0))[0] == 12.0  # what fn itself computes for -4


# ---------------------------------------------------------------------------
# memory


def affine_step(w):
    """A step computing dot(w, x) * 3 + 1 for a 2-vector x."""
    return compile(lambda x: dot(w, x) * 3.0 + 1.0, np.zeros(2))


def test_a_step_holds_the_leaves_it_reads_until_it_is_dropped_and_nothing_else():
    baseline = settled_live_nodes()
    w = [Value(1.5), Value(-2.0)]
    step = affine_step(w)
    del w
    # w's two nodes and the constants 3.0 and 1.0; the traced graph's inputs and interior are gone
    assert settled_live_nodes() == baseline + 4
    assert step(np.array([2.0, 4.0])) == (1.5 * 2.0 - 2.0 * 4.0) * 3.0 + 1.0  # w still read
    del step
    assert settled_live_nodes() == baseline


def test_compiling_calling_and_dropping_two_thousand_steps_keeps_memory_flat():
    # a tape of ~1,700 slots, about 100 KB: a program left behind would pass 1 MB in a dozen steps
    random.seed(4)
    model = MLP(2, [16, 16, 1])
    X = np.random.default_rng(4).normal(size=(20, 2))
    y = np.sign(X[:, 0])
    opt = SGD(model.parameters(), lr=0.01)

    def loss_fn(points, labels):
        scores = [model(point) for point in points]
        return losses.hinge(scores, labels) + 1e-4 * losses.l2(model.parameters()), scores

    def compile_call_drop():
        step = compile(loss_fn, X, y)
        step(X, y)
        opt.step()
        opt.zero_grad()

    baseline = settled_live_nodes()
    for k in range(1, 2001):
        compile_call_drop()
        if k % 500 == 0:
            assert settled_live_nodes() == baseline, k
        if k == 500:
            memory_at_500, arena_at_500 = memory_in_use(), arena_bytes()
    assert arena_bytes() <= arena_at_500
    assert memory_in_use() - memory_at_500 < 1 << 20


# ---------------------------------------------------------------------------
# threads


def test_threads_running_two_steps_that_share_parameters_accumulate_every_grad():
    # dyadic parameters and inputs: every loss and grad is exact, and so is their sum in any order
    w = [Value(0.5 * k - 8.0) for k in range(32)]
    x = np.arange(32.0) - 10.0
    targets = np.full(32, 0.25)
    dot_step = compile(lambda xs: dot(w, xs), x)  # grads x
    mse_step = compile(lambda ts: losses.mse(w, ts, reduction='sum'), targets)  # grads 2 (w - t)
    dot_loss = float(np.dot(data(w), x))
    mse_loss = float(np.sum((np.array(data(w)) - targets) ** 2))
    calls = 2000

    def work(t):
        step, array, expected = (dot_step, x, dot_loss) if t % 2 == 0 else (mse_step, targets, mse_loss)
        for _ in range(calls):
            assert step(array) == expected

    assert run_in_threads(work, count=4) == []  # two threads a step
    expected = 2 * calls * (x + 2 * (np.array(data(w)) - targets))
    assert grads(w) == expected.tolist()


def test_a_loss_that_is_a_parameter_itself_gets_grad_one_each_call_like_backward():
    # backward() sets the root's grad to 1 rather than adding to it, as micrograd does
    p = Value(3.0)
    p.grad = 5.0
    step = compile(lambda x: p, np.zeros(2))
    step(np.ones(2))
    step(np.ones(2))
    p.backward()
    eager = p.grad
    assert step(np.ones(2)) == 3.0
    assert p.grad == eager == 1.0


# ---------------------------------------------------------------------------
# compile(fn) without example arrays: one program per shape signature, traced lazily


def lazily_compiled_sum_of_squares():
    w = Value(0.5)

    def fn(xs):
        return losses.l2([x * w for x in xs])
    return w, fn


@pytest.mark.parametrize("lengths", [(3, 5, 3, 1, 5)], ids=["3-5-3-1-5"])
def test_a_lazy_step_traces_once_per_shape_and_gives_the_eager_result_for_every_length(lengths):
    w, fn = lazily_compiled_sum_of_squares()
    step = compile(fn)
    assert step.traces == 0
    for n in lengths:
        xs = np.arange(1.0, n + 1)
        loss = step(xs)
        grad = w.grad
        w.grad = 0.0
        expected = fn([Value(x) for x in xs.tolist()])
        expected.backward()
        assert loss == expected.data
        assert grad == w.grad
        w.grad = 0.0
    assert step.traces == len(set(lengths))  # a length seen before reuses its program


def test_a_step_with_example_arrays_still_refuses_another_shape():
    w, fn = lazily_compiled_sum_of_squares()
    step = compile(fn, np.zeros(3))
    with pytest.raises(ValueError, match=re.escape("must have shape (3,)")):
        step(np.zeros(4))
    assert step.traces == 1


def test_a_lazy_step_not_yet_called_says_so_when_asked_its_size():
    _, fn = lazily_compiled_sum_of_squares()
    with pytest.raises(ValueError, match="not been traced yet"):
        compile(fn).slots


# ---------------------------------------------------------------------------
# reading .data while tracing: the decision it feeds is frozen, so it warns


def branchy(w):
    def fn(x):
        h = x[0] * w
        if h.data > 0:  # frozen at trace time
            return h * 2.0
        return h * 3.0
    return fn


def test_reading_data_of_a_computed_value_while_tracing_warns_naming_the_line():
    w = Value(1.5)
    with pytest.warns(TracerWarning, match="as the trace took it") as caught:
        step = compile(branchy(w), np.array([1.0]))
    assert caught[0].filename == __file__
    # the decision the warning names is indeed frozen: a negative input takes the
    # branch the example took (x * w * 2), where the eager function takes the other
    assert step(np.array([-1.0])) == -1.0 * 1.5 * 2.0
    assert branchy(w)([Value(-1.0)]).data == -1.0 * 1.5 * 3.0


def test_reading_data_of_an_input_while_tracing_warns_and_of_a_parameter_does_not():
    w = Value(2.0)
    with pytest.warns(TracerWarning):
        compile(lambda x: x[0] * (1.0 if x[0].data > 0 else -1.0), np.array([1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TracerWarning)
        step = compile(lambda x: x[0] * (w if w.data > 0 else -w), np.array([1.0]))
    assert step(np.array([3.0])) == 6.0


def test_data_reads_outside_a_trace_never_warn_and_read_as_before():
    w = Value(1.5)
    with pytest.warns(TracerWarning):
        compile(branchy(w), np.array([1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TracerWarning)
        assert (w * 2.0).data == 3.0  # after the trace, in this thread
