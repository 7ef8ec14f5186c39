"""Parity with PyTorch float64 for every op, including edge values, plus the
spec's IEEE cases derived by hand and central finite differences.

The spec says our numbers and gradient rules follow PyTorch (relu grad 0 where
out <= 0, pow by constant 0 has grad 0, Value-exponent grad 0 where base == 0
and exponent >= 0). Two torch shortcuts are not our rule: it computes
`number / tensor` as reciprocal(tensor) * number and `tensor ** 0.5` as sqrt,
where we do true division and IEEE pow. So numbers reach torch as constant
float64 tensors (its true division and pow), and the points where its sqrt
differs from IEEE pow are derived by hand instead.
"""
import itertools
import math
import operator

import pytest
import torch

from helpers import central_difference, close
from microgradc import Value

inf, nan = math.inf, math.nan
EDGE = [0.0, -0.0, 0.5, -1.5, 2.0, 1000.0, -1000.0, 1e300, -1e300, inf, -inf, nan]
# numbers on either side of an op, exponents included (ints as the user would write them)
NUMBERS = EDGE + [0, 1, 2, 3, -1, -2, -0.5, 2.5]

UNARY = {
    "-x": operator.neg,
    "relu": lambda x: x.relu(),
    "tanh": lambda x: x.tanh(),
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "sigmoid": lambda x: x.sigmoid(),
}
BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


def run(leaf, fn, xs):
    """fn applied to leaves made from xs, then backward: (data, [leaf grads])."""
    leaves = [leaf(x) for x in xs]
    out = fn(*leaves)
    out.backward()
    return float(out.data), [float(v.grad) for v in leaves]


def torch_leaf(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def torch_constant(k):
    """A number as torch sees it: a float64 tensor that needs no grad. (torch evaluates
    `k / tensor` as reciprocal(tensor) * k and `tensor ** 0.5` as sqrt(tensor), which
    differ from true division and IEEE pow at extremes; tensor operands use its true ops.)"""
    return torch.tensor(k, dtype=torch.float64)


def mismatches_with_torch(fn, points, torch_fn=None):
    """Every point where our data or leaf grads differ from torch float64's
    (torch runs torch_fn when given, else fn)."""
    bad = []
    for xs in points:
        data, grads = run(Value, fn, xs)
        torch_data, torch_grads = run(torch_leaf, torch_fn or fn, xs)
        if not (close(data, torch_data) and all(map(close, grads, torch_grads))):
            bad.append({"inputs": xs, "ours": (data, grads), "torch": (torch_data, torch_grads)})
    return bad


# ---------------------------------------------------------------------------
# every op at every edge value, against torch float64


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_matches_torch_float64_at_edge_values(name):
    assert mismatches_with_torch(UNARY[name], [(x,) for x in EDGE]) == []


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_on_two_values_matches_torch_float64_at_edge_values(name):
    assert mismatches_with_torch(BINARY[name], itertools.product(EDGE, repeat=2)) == []


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_with_value_used_twice_matches_torch_float64(name):
    op = BINARY[name]
    assert mismatches_with_torch(lambda x: op(x, x), [(x,) for x in EDGE]) == []


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_with_number_on_the_right_matches_torch_float64(name):
    op = BINARY[name]
    bad = []
    for k in NUMBERS:
        ours, theirs = (lambda x: op(x, k)), (lambda x: op(x, torch_constant(k)))
        bad += mismatches_with_torch(ours, [(x,) for x in EDGE], theirs)
    assert bad == []


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_with_number_on_the_left_matches_torch_float64(name):
    op = BINARY[name]
    bad = []
    for k in NUMBERS:
        ours, theirs = (lambda x: op(k, x)), (lambda x: op(torch_constant(k), x))
        bad += mismatches_with_torch(ours, [(x,) for x in EDGE], theirs)
    assert bad == []


def test_pow_by_plus_or_minus_half_follows_ieee_pow_where_torchs_sqrt_differs():
    # derived by hand from IEEE 754 pow (C99 Annex F, as Python's float pow), with grad
    # k x^(k-1); torch's scalar path computes sqrt / rsqrt instead, giving -0.0 and nan here
    cases = {
        (-0.0, 0.5): (0.0, inf),  # pow(-0, 0.5) = +0; 0.5 pow(-0, -0.5) = 0.5 * +inf
        (-inf, 0.5): (inf, 0.0),  # pow(-inf, 0.5) = +inf; 0.5 pow(-inf, -0.5) = 0.5 * +0
        (-0.0, -0.5): (inf, -inf),  # pow(-0, -0.5) = +inf; -0.5 pow(-0, -1.5) = -0.5 * +inf
        (-inf, -0.5): (0.0, 0.0),  # pow(-inf, -0.5) = +0; -0.5 pow(-inf, -1.5) = -0.5 * +0
    }
    for (x, k), (data, grad) in cases.items():
        out_data, (out_grad,) = run(Value, lambda v: v**k, (x,))
        assert (repr(out_data), out_grad) == (repr(data), grad), (x, k)  # repr: +0.0 is not -0.0


def test_composite_expression_of_every_op_matches_torch_float64():
    def expression(a, b, c):
        h = (a * b + c).tanh() - (a / c).sigmoid() * 3
        return (h.exp() + (b**2).log() + c**a + 2**b - (-a).relu()) ** 2 / (1 + c)

    assert mismatches_with_torch(expression, [(0.7, -1.3, 2.1), (-0.4, 0.9, 0.3), (1.5, 2.5, 1.1)]) == []


# ---------------------------------------------------------------------------
# the spec's IEEE cases, derived by hand: no Python exception from arithmetic


def test_log_of_zero_is_minus_inf_with_grad_one_over_zero():
    x = Value(0.0)
    y = x.log()
    y.backward()
    assert y.data == -inf
    assert x.grad == inf  # d/dx log x = 1/x


def test_exp_overflow_is_inf_with_grad_equal_to_the_output():
    x = Value(1000.0)
    y = x.exp()
    y.backward()
    assert y.data == inf
    assert x.grad == inf  # d/dx e^x = e^x


def test_tanh_saturates_to_exactly_one_with_zero_grad():
    for x in (Value(1000.0), Value(400.0)):  # a naive (e^2x - 1)/(e^2x + 1) overflows past ~355
        y = x.tanh()
        y.backward()
        assert y.data == 1.0
        assert x.grad == 0.0  # 1 - tanh(x)^2 = 1 - 1


def test_sigmoid_saturates_to_exactly_zero_with_finite_zero_grad():
    x = Value(-1000.0)
    y = x.sigmoid()
    y.backward()
    assert y.data == 0.0
    assert x.grad == 0.0  # s (1 - s) with s = 0


def test_division_by_zero_is_inf_not_an_exception():
    x, y = Value(1.0), Value(0.0)
    z = x / y
    z.backward()
    assert z.data == inf
    assert x.grad == inf  # d/dx x/y = 1/y
    assert y.grad == -inf  # d/dy x/y = -x/y^2
    assert (Value(1.0) / 0).data == inf
    assert (Value(-1.0) / 0.0).data == -inf
    assert (1.0 / Value(0.0)).data == inf
    assert (Value(0.0) ** -1).data == inf
    assert math.isnan((Value(0.0) / 0).data)


def test_nan_propagates_through_every_op():
    x = Value(nan)
    outputs = [f(x) for f in UNARY.values()] + [op(x, 1.5) for op in BINARY.values()]
    outputs += [op(1.5, x) for op in BINARY.values()]
    assert all(math.isnan(y.data) for y in outputs)


# ---------------------------------------------------------------------------
# central finite differences of our own forward pass at smooth points

SMOOTH_POINTS = [0.3, 1.7, 2.9]  # positive, away from relu's kink, log's and pow's domain edges


def assert_grads_match_finite_differences(fn, xs):
    """Each leaf's grad equals the central difference of fn in that input."""
    _, grads = run(Value, fn, xs)
    for i, grad in enumerate(grads):

        def f(t):
            return fn(*(Value(t if j == i else x) for j, x in enumerate(xs))).data

        slope = central_difference(f, xs[i])
        assert math.isclose(grad, slope, rel_tol=1e-6, abs_tol=1e-9), (xs, i, grad, slope)


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_grad_matches_central_finite_difference(name):
    signs = (1,) if name == "log" else (1, -1)
    for x in SMOOTH_POINTS:
        for sign in signs:
            assert_grads_match_finite_differences(UNARY[name], (sign * x,))


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, -2, 0.5, -0.5, 2.5])
def test_pow_by_number_grad_matches_central_finite_difference(k):
    for x in SMOOTH_POINTS:
        assert_grads_match_finite_differences(lambda v: v**k, (x,))


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_grads_match_central_finite_differences(name):
    for x, y in itertools.product(SMOOTH_POINTS, [0.4, -1.3, 2.0]):
        assert_grads_match_finite_differences(BINARY[name], (x, y))
        assert_grads_match_finite_differences(lambda v: BINARY[name](x, v), (y,))  # number on the left
