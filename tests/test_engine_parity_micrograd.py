"""Parity with the reference micrograd (micrograd==0.1.0 from PyPI).

The same expression graph is built op by op in micrograd.engine.Value and in
microgradc.Value; after backward() every node's data and grad must agree.
"""
import operator

import micrograd.engine
import torch
from hypothesis import given, settings, strategies as st

import microgradc
from helpers import close, readme_expression as micrograds_readme_expression

REFERENCE, OURS = micrograd.engine.Value, microgradc.Value

# ---------------------------------------------------------------------------
# random graphs with shared nodes, built in both engines side by side


def signed(magnitudes):
    return st.builds(lambda m, negative: -m if negative else m, magnitudes, st.booleans())


# leaves and numbers stay away from 0, so a relative comparison is meaningful
LEAF = signed(st.floats(0.1, 2.0))
NUMBER = st.one_of(LEAF, st.sampled_from([-3, -2, -1, 1, 2, 3]))
EXPONENT = st.sampled_from([1, 2, 3, 2.0, 3.0])
# exponents that need a positive base (and micrograd's 0 * x**-1 a nonzero one)
EXPONENT_OF_POSITIVE = st.sampled_from([0, -1, -2, 0.5, -0.5, 1.5, -1.0])

# x, y: earlier nodes; k: a number; e: an exponent; p: a node known >= 1
OPS = {
    "x + y": lambda x, y, k, e: x + y,
    "x + k": lambda x, y, k, e: x + k,
    "k + x": lambda x, y, k, e: k + x,
    "x - y": lambda x, y, k, e: x - y,
    "x - k": lambda x, y, k, e: x - k,
    "k - x": lambda x, y, k, e: k - x,
    "x * y": lambda x, y, k, e: x * y,
    "x * k": lambda x, y, k, e: x * k,
    "k * x": lambda x, y, k, e: k * x,
    "x / k": lambda x, y, k, e: x / k,
    "x / p": lambda x, p, k, e: x / p,
    "k / p": lambda x, p, k, e: k / p,
    "-x": lambda x, y, k, e: -x,
    "x ** e": lambda x, y, k, e: x ** e[0],
    "p ** e": lambda x, p, k, e: p ** e[1],
    "x.relu()": lambda x, y, k, e: x.relu(),
}
TAKES_POSITIVE = {"x / p", "k / p", "p ** e"}

PROGRAM = st.lists(
    st.tuples(
        st.sampled_from(sorted(OPS)),
        st.integers(0, 63),  # operand indices, taken modulo the nodes so far
        st.integers(0, 63),
        NUMBER,
        st.tuples(EXPONENT, EXPONENT_OF_POSITIVE),
    ),
    min_size=10,
    max_size=30,
)


def build_twin_graphs(leaves, program):
    """Run program in micrograd and microgradc in lockstep and backpropagate from
    the sum of the unused nodes. Returns every (micrograd node, our node) pair.
    Every choice that depends on a value looks at micrograd's value only."""
    nodes, used = [], set()

    def node(fn, *operands):
        pair = (fn(*(o[0] for o in operands)), fn(*(o[1] for o in operands)))
        used.update(id(o) for o in operands)
        nodes.append(pair)
        return pair

    for x in leaves:
        nodes.append((REFERENCE(x), OURS(x)))
    for name, i, j, k, e in program:
        x, y = nodes[i % len(nodes)], nodes[j % len(nodes)]
        if name == "x.relu()" and abs(x[0].data) < 1e-9:
            continue  # at relu's kink an ulp of difference would flip the branch
        if name in TAKES_POSITIVE:
            y = node(lambda v: v + 1, node(lambda v: v * v, y))
        out = node(lambda a, b: OPS[name](a, b, k, e), x, y)
        while abs(out[0].data) > 4:
            out = node(lambda v: v * 0.125, out)  # exact rescale keeps magnitudes tame
    sinks = [pair for pair in nodes if id(pair) not in used]
    root = sinks[0]
    for sink in sinks[1:]:
        root = node(operator.add, root, sink)
    root[0].backward()
    root[1].backward()
    return nodes


@settings(max_examples=200)
@given(leaves=st.lists(LEAF, min_size=1, max_size=5), program=PROGRAM)
def test_random_graph_with_shared_nodes_matches_micrograd_data_and_grads(leaves, program):
    nodes = build_twin_graphs(leaves, program)
    # grads are sums whose accumulation order follows micrograd's set-ordered topo
    # in one engine and ours in the other, and micrograd divides as a * b**-1 where
    # we divide as a / b (an ulp apart); near cancellation a pure relative error is
    # meaningless, so the absolute floor scales with the graph's largest magnitude.
    scale = max(max(abs(ref.data), abs(ref.grad)) for ref, _ in nodes)
    for ref, ours in nodes:
        assert close(ours.data, ref.data, abs_tol=1e-12 * scale), (ours, ref)
        assert close(ours.grad, ref.grad, abs_tol=1e-12 * scale), (ours, ref)


# ---------------------------------------------------------------------------
# the examples users try first


def readme_expression(Value):
    """micrograd's README example on Value, backpropagated: a, b, c, d, e, f, g."""
    a = Value(-4.0)
    b = Value(2.0)
    *rest, g = micrograds_readme_expression(a, b)
    g.backward()
    return (a, b, *rest, g)


def test_readme_example_matches_micrograd_for_every_value():
    for ref, ours in zip(readme_expression(REFERENCE), readme_expression(OURS)):
        assert close(ours.data, ref.data), (ours, ref)
        assert close(ours.grad, ref.grad), (ours, ref)


def test_readme_example_prints_the_numbers_in_micrograds_readme():
    a, b, *_, g = readme_expression(OURS)
    assert f"{g.data:.4f}" == "24.7041"
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


LECTURE_NEURON = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}


def lecture_neuron(leaf, activation):
    """The lecture's neuron o = activation(x1*w1 + x2*w2 + b); returns o and its leaves."""
    leaves = {name: leaf(x) for name, x in LECTURE_NEURON.items()}
    n = leaves["x1"] * leaves["w1"] + leaves["x2"] * leaves["w2"] + leaves["b"]
    o = activation(n)
    o.backward()
    return o, leaves


def tanh_op(n):
    return n.tanh()


def tanh_from_exp(n):
    e = (2 * n).exp()
    return (e - 1) / (e + 1)


def torch_leaf(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def test_lecture_tanh_neuron_matches_torch_float64():
    o, leaves = lecture_neuron(OURS, tanh_op)
    o_torch, torch_leaves = lecture_neuron(torch_leaf, tanh_op)
    assert round(o.data, 4) == 0.7071
    assert close(o.data, o_torch.item())
    for name, leaf in leaves.items():
        assert close(leaf.grad, torch_leaves[name].grad.item()), name


def test_lecture_neuron_with_tanh_from_exp_and_division_gives_same_data_and_grads():
    o, leaves = lecture_neuron(OURS, tanh_op)
    o_decomposed, leaves_decomposed = lecture_neuron(OURS, tanh_from_exp)
    assert close(o_decomposed.data, o.data)
    for name, leaf in leaves.items():
        assert close(leaves_decomposed[name].grad, leaf.grad), name
