"""softmax, logsumexp, embedding, select and Linear against PyTorch float64: values and
gradients, eager and compiled, logits up to +-1000, and every bad index refused."""
import math
import random
import warnings

import numpy as np
import pytest
import torch
from helpers import close, mismatches, settled_live_nodes

import microgradc as mg
from microgradc import Value

SIZES = [1, 2, 5, 27]


def logits(n, scale, seed):
    rng = random.Random(seed)
    return [rng.uniform(-scale, scale) for _ in range(n)]


def torch_leaf(numbers):
    return torch.tensor(numbers, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("scale", [1.0, 30.0, 1000.0])
def test_softmax_values_and_grads_equal_torch_softmax(n, scale):
    z, weights = logits(n, scale, n), logits(n, 1.0, n + 1)
    zv = [Value(x) for x in z]
    probs = mg.softmax(zv)
    mg.dot(weights, probs).backward()  # an upstream grad that differs per output
    zt = torch_leaf(z)
    pt = torch.softmax(zt, 0)
    (torch.tensor(weights, dtype=torch.float64) * pt).sum().backward()
    assert not mismatches([p.data for p in probs], pt.tolist(), abs_tol=1e-300)
    # a grad is p[i] * (w[i] - sum of w * p), a difference of terms of size |w| <= 1, so
    # either formula is right to a few ulps of 1 (torch's in one subtraction, ours over
    # the logsumexp node): absolute, not relative, where the grad is far smaller
    assert not mismatches([v.grad for v in zv], zt.grad.tolist(), rel_tol=1e-12, abs_tol=1e-14)
    assert all(p._op == 'softmax' for p in probs)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_logsumexp_value_and_grads_equal_torch_logsumexp(n, scale):
    z = logits(n, scale, 7 * n)
    zv = [Value(x) for x in z]
    out = mg.logsumexp(zv)
    out.backward()
    zt = torch_leaf(z)
    expected = torch.logsumexp(zt, 0)
    expected.backward()
    assert close(out.data, expected.item())
    assert not mismatches([v.grad for v in zv], zt.grad.tolist(), abs_tol=1e-300)


@pytest.mark.parametrize("z", [
    [math.inf, 1.0], [-math.inf, -math.inf], [-math.inf, 2.0], [math.nan, 1.0], [1.0, math.nan],
    [1e308, 1e308],
], ids=str)
def test_logsumexp_of_infinities_and_nan_is_torchs(z):
    ours = mg.logsumexp([Value(x) for x in z]).data
    theirs = torch.logsumexp(torch.tensor(z, dtype=torch.float64), 0).item()
    assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))


def test_softmax_of_huge_logits_does_not_overflow_where_micrograds_exp_would():
    z = [1000.0, 999.0, -1000.0]
    probs = [p.data for p in mg.softmax([Value(x) for x in z])]
    expected = torch.softmax(torch.tensor(z, dtype=torch.float64), 0).tolist()
    assert not mismatches(probs, expected, abs_tol=1e-300)
    assert math.isinf(Value(1000.0).exp().data)  # the unshifted exp overflows


def test_softmax_and_logsumexp_of_nothing_raise_value_error():
    with pytest.raises(ValueError, match="softmax of nothing"):
        mg.softmax([])
    with pytest.raises(ValueError, match="logsumexp of nothing"):
        mg.logsumexp(iter([]))


def test_a_compiled_softmax_recomputes_its_shift_for_every_input_and_never_warns():
    """The shift is in the graph: logits far from the traced ones (+-1000) still give
    torch's softmax, and tracing reads no .data."""
    weights = [Value(w) for w in logits(5, 1.0, 3)]

    def loss(z):
        return mg.dot(weights, mg.softmax([zi * 1.0 for zi in z]))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = mg.compile(loss, np.zeros(5))
    for seed, scale in [(1, 1.0), (2, 1000.0), (3, 50.0)]:
        z = logits(5, scale, seed)
        for w in weights:
            w.grad = 0.0
        got = step(np.array(z))
        zt = torch_leaf(z)
        wt = torch_leaf([w.data for w in weights])
        expected = (wt * torch.softmax(zt, 0)).sum()
        expected.backward()
        assert close(got, expected.item(), rel_tol=1e-12, abs_tol=1e-300)
        assert not mismatches([w.grad for w in weights], wt.grad.tolist(), abs_tol=1e-300)


# ---------------------------------------------------------------- embedding and select

def table(rows, cols, seed=0):
    rng = random.Random(seed)
    return [[Value(rng.gauss(0, 1)) for _ in range(cols)] for _ in range(rows)]


def torch_embedding_grads(numbers, index, upstream):
    weight = torch_leaf(numbers)
    out = torch.nn.functional.embedding(torch.tensor(index), weight)
    (out * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    return out.tolist(), weight.grad.tolist()


@pytest.mark.parametrize("rows, cols, index", [(1, 1, 0), (5, 3, 0), (5, 3, 4), (27, 16, 13)])
def test_embedding_with_a_value_index_equals_torch_embedding_values_and_grads(rows, cols, index):
    t = table(rows, cols, rows + cols)
    upstream = logits(cols, 1.0, index)
    row = mg.embedding(t, Value(index))
    mg.dot(upstream, row).backward()
    values, grads = torch_embedding_grads([[v.data for v in r] for r in t], index, upstream)
    assert [v.data for v in row] == values
    assert [[v.grad for v in r] for r in t] == grads  # the row's grads, the others 0
    assert all(v._op == 'select' for v in row)


def test_embedding_with_an_int_index_is_the_tables_own_row():
    t = table(4, 3)
    row = mg.embedding(t, 2)
    assert all(a is b for a, b in zip(row, t[2]))
    assert mg.embedding(t, np.int64(1))[0] is t[1][0]


def test_select_picks_the_entry_its_index_holds_and_sends_it_the_grad():
    values = [Value(x) for x in [3.0, -1.0, 7.0]]
    index = Value(1)
    picked = mg.select(values, index)
    (picked * 2.0).backward()
    assert picked.data == -1.0
    assert [v.grad for v in values] == [0.0, 2.0, 0.0]
    assert index.grad == 0.0  # an integer: no gradient, as torch gives none


@pytest.mark.parametrize("later", [2.0, 99.0, math.nan])
def test_a_lookups_backward_goes_to_the_row_it_selected_when_its_index_changes_later(later):
    """The grad of the value it gave: torch's embedding, too, differentiates with the
    index it saved (and refuses an index changed in place)."""
    t = table(3, 2, 5)
    index = Value(1)
    row = mg.embedding(t, index)
    index.data = later
    mg.dot([1.0, 2.0], row).backward()
    assert [[v.grad for v in r] for r in t] == [[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]]
    assert [v.data for v in row] == [v.data for v in t[1]]


@pytest.mark.parametrize("index", [Value(5), Value(-1), Value(1.5), Value(math.nan), 5, -1])
def test_an_index_that_is_not_a_row_raises_index_error(index):
    with pytest.raises(IndexError, match="not .*row|is not in"):
        mg.embedding(table(5, 2), index)


@pytest.mark.parametrize("index", ["1", 1.0, True, None])
def test_an_index_that_is_neither_an_int_nor_a_value_raises_type_error(index):
    with pytest.raises(TypeError, match="int or a Value"):
        mg.embedding(table(3, 2), index)


@pytest.mark.parametrize("bad_table", [[], [[]], [[Value(1)], [Value(1), Value(2)]]], ids=str)
def test_an_empty_or_ragged_table_raises_value_error(bad_table):
    with pytest.raises(ValueError, match="equal-length"):
        mg.embedding(bad_table, 0)


def test_a_compiled_lookup_reads_each_calls_row_and_sends_it_the_grad():
    t = table(6, 4, 9)
    upstream = logits(4, 1.0, 2)
    step = mg.compile(lambda ix: mg.dot(upstream, mg.embedding(t, ix[0])), np.array([0.0]))
    for index in [3, 0, 5, 3]:
        for r in t:
            for v in r:
                v.grad = 0.0
        got = step(np.array([float(index)]))
        values, grads = torch_embedding_grads([[v.data for v in r] for r in t], index, upstream)
        assert got == sum(u * x for u, x in zip(upstream, values))  # the dot's order
        assert [[v.grad for v in r] for r in t] == grads


@pytest.mark.parametrize("bad", [6.0, -1.0, 2.5, math.nan])
def test_a_compiled_lookup_given_no_row_raises_index_error_and_adds_no_grad(bad):
    t = table(6, 4, 9)
    step = mg.compile(lambda ix: mg.dot([1.0] * 4, mg.embedding(t, ix[0])), np.array([0.0]))
    step(np.array([2.0]))
    before = [[v.grad for v in r] for r in t]
    with pytest.raises(IndexError, match="not a row"):
        step(np.array([bad]))
    assert [[v.grad for v in r] for r in t] == before
    step(np.array([1.0]))  # the step still works after the refusal
    assert t[1][0].grad == before[1][0] + 1.0


def test_building_lookups_and_softmaxes_in_a_loop_keeps_live_nodes_flat():
    t = table(27, 16)

    def one_round():
        row = mg.embedding(t, Value(3))
        mg.logsumexp(mg.softmax(row)).backward()

    one_round()
    before = settled_live_nodes()
    for _ in range(200):
        one_round()
    assert settled_live_nodes() == before


# ---------------------------------------------------------------- Linear

def test_linear_is_microgpts_sum_of_products_a_row_and_has_torchs_grads():
    rng = random.Random(4)
    w = [[Value(rng.gauss(0, 1)) for _ in range(5)] for _ in range(3)]
    x = [Value(rng.gauss(0, 1)) for _ in range(5)]
    out = mg.Linear(w)(x)
    assert [o.data for o in out] == [sum(wi.data * xi.data for wi, xi in zip(row, x)) for row in w]
    mg.dot([1.0, -2.0, 0.5], out).backward()
    wt, xt = torch_leaf([[v.data for v in row] for row in w]), torch_leaf([v.data for v in x])
    ((wt @ xt) * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)).sum().backward()
    assert not mismatches([v.grad for row in w for v in row], wt.grad.flatten().tolist())
    assert not mismatches([v.grad for v in x], xt.grad.tolist())


def test_linear_refuses_ragged_rows_non_values_and_a_wrong_input_length():
    with pytest.raises(ValueError, match="equal-length"):
        mg.Linear([[Value(1)], [Value(1), Value(2)]])
    with pytest.raises(TypeError, match="must be Values"):
        mg.Linear([[1.0, 2.0]])
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        mg.Linear([[Value(1), Value(2)]])([1, 2, 3])
