"""micrograd programs run unchanged on microgradc.

Each section takes something people write against micrograd (micrograd==0.1.0 from
PyPI, and the lecture that builds it) and runs it on microgradc: micrograd's own
engine tests, the lecture's backprop done by hand, ops a user defines and attaches to
the class, a draw_dot that walks _prev, attributes and weak references on a Value, a
model whose weights, neurons and layers are changed by hand, numpy arrays of Values,
and repr. Every number is checked against an independent reference: micrograd itself
(with the same user ops attached to its Value where it lacks one), torch float64,
central finite differences, or a derivation by hand.
"""
import gc
import math
import random
import weakref

import micrograd.engine
import micrograd.nn
import numpy as np
import pytest
import torch

import microgradc.nn
from helpers import central_difference, close, mismatches, readme_expression
from microgradc.engine import Value, live_nodes

REFERENCE = micrograd.engine.Value


def torch_scalar(x):
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------------------
# ops a user writes micrograd's way: a new Value naming its children and op, and a
# closure that adds this node's share of the gradient to each child


def user_ops(V):
    """sin, cos, tanh, exp and a binary mul2, written for the Value class V as a
    micrograd user writes them."""

    def sin(self):
        out = V(math.sin(self.data), (self,), 'sin')

        def _backward():
            self.grad += math.cos(self.data) * out.grad
        out._backward = _backward
        return out

    def cos(self):
        out = V(math.cos(self.data), (self,), 'cos')

        def _backward():
            self.grad += -math.sin(self.data) * out.grad
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = V(t, (self,), 'tanh')

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = V(math.exp(self.data), (self,), 'exp')

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def mul2(self, other):
        out = V(self.data * other.data, (self, other), 'mul2')

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    return {'sin': sin, 'cos': cos, 'tanh': tanh, 'exp': exp, 'mul2': mul2}


def attach(monkeypatch, V, names):
    """Attach the named user ops to the class V for this test only."""
    ops = user_ops(V)
    for name in names:
        monkeypatch.setattr(V, name, ops[name], raising=False)


def give_micrograd_the_lectures_ops(monkeypatch):
    """micrograd 0.1.0 has no tanh or exp; the lecture adds them as user ops."""
    attach(monkeypatch, REFERENCE, ['tanh', 'exp'])


# ---------------------------------------------------------------------------
# 1. micrograd's test/test_engine.py: two expressions checked against torch


def sanity_expression(x):
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    return h + q + q * x


def test_sanity_check_expression_matches_torch_float64_in_data_and_grad():
    x = Value(-4.0)
    y = sanity_expression(x)
    y.backward()
    x_torch = torch_scalar(-4.0)
    y_torch = sanity_expression(x_torch)
    y_torch.backward()
    assert close(y.data, y_torch.item())
    assert close(x.grad, x_torch.grad.item())


def test_more_ops_expression_matches_torch_float64_in_data_and_grads():
    a, b = Value(-4.0), Value(2.0)
    g = readme_expression(a, b)[-1]
    g.backward()
    a_torch, b_torch = torch_scalar(-4.0), torch_scalar(2.0)
    g_torch = readme_expression(a_torch, b_torch)[-1]
    g_torch.backward()
    assert close(g.data, g_torch.item())
    assert close(a.grad, a_torch.grad.item())
    assert close(b.grad, b_torch.grad.item())


# ---------------------------------------------------------------------------
# 2. the lecture's neuron, backpropagated by hand one _backward() at a time

NEURON_INPUTS = {'x1': 2.0, 'x2': 0.0, 'w1': -3.0, 'w2': 1.0, 'b': 6.8813735870195432}
NEURON_NODES = ['x1', 'x2', 'w1', 'w2', 'b', 'x1w1', 'x2w2', 'x1w1x2w2', 'n', 'o']


def lecture_neuron(V, activation=lambda n: n.tanh()):
    """Every node of o = activation(x1*w1 + x2*w2 + b), by the lecture's names."""
    nodes = {name: V(x) for name, x in NEURON_INPUTS.items()}
    nodes['x1w1'] = nodes['x1'] * nodes['w1']
    nodes['x2w2'] = nodes['x2'] * nodes['w2']
    nodes['x1w1x2w2'] = nodes['x1w1'] + nodes['x2w2']
    nodes['n'] = nodes['x1w1x2w2'] + nodes['b']
    nodes['o'] = activation(nodes['n'])
    return nodes


def tanh_from_exp(n):
    e = (2 * n).exp()
    return (e - 1) / (e + 1)


def hand_steps():
    """(node whose _backward() runs, the grads it sets) in the lecture's order, by hand:
    do/dn = 1 - o**2, a sum passes its grad to both terms, and a product gives each
    factor the other factor times its grad."""
    t = math.tanh(2.0 * -3.0 + 0.0 * 1.0 + NEURON_INPUTS['b'])
    dn = 1 - t**2
    return [
        ('o', {'n': dn}),
        ('n', {'x1w1x2w2': dn, 'b': dn}),
        ('b', {}),
        ('x1w1x2w2', {'x1w1': dn, 'x2w2': dn}),
        ('x2w2', {'x2': 1.0 * dn, 'w2': 0.0 * dn}),
        ('x1w1', {'x1': -3.0 * dn, 'w1': 2.0 * dn}),
        ('x1', {}),
    ]


def test_lecture_manual_backprop_step_by_step_matches_hand_derivation_and_micrograd(monkeypatch):
    give_micrograd_the_lectures_ops(monkeypatch)
    ours, ref = lecture_neuron(Value), lecture_neuron(REFERENCE)
    assert round(ours['o'].data, 4) == 0.7071
    assert close(ours['o'].data, math.tanh(NEURON_INPUTS['b'] - 6.0))
    ours['o'].grad = 1.0
    ref['o'].grad = 1.0
    expected = dict.fromkeys(NEURON_NODES, 0.0)
    expected['o'] = 1.0
    for step, sets in hand_steps():
        ours[step]._backward()
        ref[step]._backward()
        expected.update(sets)
        for name in NEURON_NODES:
            assert close(ours[name].grad, expected[name]), (step, name, ours[name].grad)
            assert close(ours[name].grad, ref[name].grad), (step, name, ours[name].grad)
    assert abs(ours['n'].grad - 0.5) < 1e-12
    assert ours['w2'].grad == 0.0


def test_lecture_tanh_written_with_exp_gives_the_data_and_grads_of_tanh():
    by_tanh = lecture_neuron(Value)
    by_exp = lecture_neuron(Value, tanh_from_exp)
    by_tanh['o'].backward()
    by_exp['o'].backward()
    dn = hand_steps()[0][1]['n']
    assert close(by_exp['o'].data, by_tanh['o'].data)
    assert close(by_exp['o'].data, math.tanh(NEURON_INPUTS['b'] - 6.0))
    for name in ['x1', 'x2', 'w1', 'w2', 'b', 'n']:
        assert close(by_exp[name].grad, by_tanh[name].grad, abs_tol=1e-12), name
    assert close(by_exp['x1'].grad, -3.0 * dn)  # and both are the hand derivation's
    assert close(by_exp['w1'].grad, 2.0 * dn)


# ---------------------------------------------------------------------------
# 3. user ops attached to the class, mixed with built-in ops in one graph


def mixed_graph(V, x0, y0):
    """A graph where user ops (sin, cos, tanh, mul2) and built-ins (+, *, **, relu, exp)
    sit above and below each other; s is read by four parents, c and w by two."""
    x, y = V(x0), V(y0)
    s = x.sin()                     # user op on a leaf
    u = s * y                       # built-in above a user op
    v = s.mul2(x)                   # binary user op reading another Value
    w = (s + 1) ** 2                # built-in chain above a user op
    c = (u + v).cos()               # user op above built-ins above a user op
    t = (c * 2 + w).tanh()          # user tanh
    r = (x * y + 3).relu().sin()    # relu (built-in) below a user op
    e = (t * 0.5 + s).exp()         # exp (built-in for us) above user ops
    root = e * r + c.mul2(w) + t
    return root, {'x': x, 'y': y, 's': s, 'u': u, 'v': v, 'w': w, 'c': c, 't': t,
                  'r': r, 'e': e, 'root': root}


MIXED_AT = (0.7, -1.3)


def test_mixed_user_and_builtin_ops_match_micrograd_with_the_same_user_ops(monkeypatch):
    attach(monkeypatch, Value, ['sin', 'cos', 'tanh', 'mul2'])
    attach(monkeypatch, REFERENCE, ['sin', 'cos', 'tanh', 'mul2', 'exp'])
    root, ours = mixed_graph(Value, *MIXED_AT)
    root_ref, ref = mixed_graph(REFERENCE, *MIXED_AT)
    root.backward()
    root_ref.backward()
    scale = max(max(abs(r.data), abs(r.grad)) for r in ref.values())
    for name in ours:
        assert close(ours[name].data, ref[name].data, abs_tol=1e-13 * scale), name
        assert close(ours[name].grad, ref[name].grad, abs_tol=1e-13 * scale), name


def test_mixed_user_and_builtin_ops_grads_match_central_differences(monkeypatch):
    attach(monkeypatch, Value, ['sin', 'cos', 'tanh', 'mul2'])
    x0, y0 = MIXED_AT
    root, nodes = mixed_graph(Value, x0, y0)
    root.backward()
    slope_x = central_difference(lambda x: mixed_graph(Value, x, y0)[0].data, x0)
    slope_y = central_difference(lambda y: mixed_graph(Value, x0, y)[0].data, y0)
    assert close(nodes['x'].grad, slope_x, rel_tol=1e-6, abs_tol=1e-8)
    assert close(nodes['y'].grad, slope_y, rel_tol=1e-6, abs_tol=1e-8)


def probed_graph(V, recorded):
    """p = probe(2x) is read by a built-in parent, a user-op parent and a long chain;
    probe's rule records out.grad as it finds it when it runs."""

    def probe(self):
        out = V(self.data, (self,), 'probe')

        def _backward():
            recorded.append(out.grad)
            self.grad += out.grad
        out._backward = _backward
        return out

    x = V(0.7)
    p = probe(x * 2)
    chain = ((p * p).relu() + 1) ** 2 * 0.5
    root = p * 3 + p.sin() + (p + x).exp() + chain.sin() * p
    return x, p, root


def test_user_op_rule_runs_once_after_every_parent_has_added_to_its_grad(monkeypatch):
    attach(monkeypatch, Value, ['sin'])
    attach(monkeypatch, REFERENCE, ['sin', 'exp'])
    recorded, recorded_ref = [], []
    x, p, root = probed_graph(Value, recorded)
    x_ref, p_ref, root_ref = probed_graph(REFERENCE, recorded_ref)
    root.backward()
    root_ref.backward()
    assert recorded_ref == [p_ref.grad]  # micrograd's topological order guarantees it
    assert recorded == [p.grad]
    assert close(p.grad, p_ref.grad)
    assert close(x.grad, x_ref.grad)


def test_user_op_node_has_its_op_text_and_gives_back_the_rule_it_was_given(monkeypatch):
    given = []

    def plain_sin(self):
        out = Value(math.sin(self.data), (self,), 'sin')

        def _backward():
            self.grad += math.cos(self.data) * out.grad
        out._backward = _backward
        given.append(_backward)
        return out

    monkeypatch.setattr(Value, 'sin', plain_sin, raising=False)
    s = (Value(0.3) * 2).sin()
    assert s._op == 'sin'
    assert s._backward is given[-1]
    (seen,) = s.relu()._prev  # the same node reached through a parent
    assert seen._op == 'sin'
    assert seen._backward is given[-1]


def live_nodes_while_training(prediction, steps=200, read_at=(10, 100, 200)):
    """live_nodes() (after gc.collect()) at the steps read_at of plain SGD on the loss
    (prediction(w) - 0.5)**2 of one parameter w, and w's data at the end."""
    w = Value(0.3)
    readings = []
    for step in range(1, steps + 1):
        loss = (prediction(w) - 0.5) ** 2
        w.grad = 0.0
        loss.backward()
        w.data -= 0.1 * w.grad
        del loss
        if step in read_at:
            gc.collect()
            readings.append(live_nodes())
    return readings, w.data


def test_training_loop_with_a_user_op_keeps_live_nodes_flat(monkeypatch):
    attach(monkeypatch, Value, ['sin'])
    readings, _ = live_nodes_while_training(lambda w: w.sin())
    assert readings[0] == readings[1] == readings[2], readings


def test_training_loop_with_nested_user_ops_keeps_live_nodes_flat(monkeypatch):
    attach(monkeypatch, Value, ['sin', 'tanh', 'mul2'])
    readings, _ = live_nodes_while_training(lambda w: w.mul2(w).sin().tanh())
    assert readings[0] == readings[1] == readings[2], readings


def test_training_loop_with_nested_user_ops_moves_the_weight_as_micrograd_does(monkeypatch):
    attach(monkeypatch, Value, ['sin', 'tanh', 'mul2'])
    attach(monkeypatch, REFERENCE, ['sin', 'tanh', 'mul2'])
    w, w_ref = Value(0.3), REFERENCE(0.3)
    for _ in range(200):
        for v in (w, w_ref):
            loss = (v.mul2(v).sin().tanh() - 0.5) ** 2
            v.grad = 0.0
            loss.backward()
            v.data -= 0.1 * v.grad
    assert close(w.data, w_ref.data, rel_tol=1e-10)


def test_a_dropped_chain_of_user_ops_is_freed_by_the_next_collection(monkeypatch):
    attach(monkeypatch, Value, ['sin'])
    gc.collect()
    before = live_nodes()
    x = Value(0.3)
    y = x.sin().sin().sin().sin()
    y.backward()
    del x, y
    gc.collect()
    assert live_nodes() == before


# ---------------------------------------------------------------------------
# 4. _prev: the objects an op was given, and a draw_dot that walks it


def test_prev_holds_the_very_leaf_an_op_was_given():
    a = Value(3.0)
    b = a * 3
    assert any(c is a for c in b._prev)


def test_prev_holds_the_very_value_an_earlier_op_returned():
    def prev_holds_it(V):
        a = V(3.0)
        b = a * 3
        return any(p is b for p in (b + a)._prev)

    assert prev_holds_it(REFERENCE)
    assert prev_holds_it(Value)


def walk(root):
    """Every object met walking _prev depth first from root, repeats included."""
    met, stack = [], [root]
    while stack:
        v = stack.pop()
        met.append(v)
        stack.extend(v._prev)
    return met


def test_walking_prev_twice_gives_the_same_objects_for_the_same_node():
    a, b = Value(2.0), Value(-3.0)
    root = ((a * b + a).relu() * (a * b)).tanh()
    first = walk(root)
    second = walk(root)
    assert len(first) == len(second)
    assert {id(v) for v in first} == {id(v) for v in second}
    for v in first:
        assert {id(c) for c in v._prev} == {id(c) for c in v._prev}


def lecture_trace(root, nodes=None, edges=None):
    """The lecture's trace: the set of Values reachable from root and the set of
    (child, parent) edges, found by recursing into _prev. (A module-level function
    rather than the lecture's nested one, so no reference cycle keeps the Values.)"""
    if nodes is None:
        nodes, edges = set(), set()
    if root not in nodes:
        nodes.add(root)
        for child in root._prev:
            edges.add((child, root))
            lecture_trace(child, nodes, edges)
    return nodes, edges


def lecture_dot(root):
    """What the lecture's draw_dot would declare: node names (str(id(v)) per Value and
    str(id(v)) + v._op per op) and edges (op -> Value, child -> parent's op), as lists."""
    nodes, edges = lecture_trace(root)
    names, links = [], []
    for v in nodes:
        name = str(id(v))
        names.append(name)
        if v._op:
            names.append(name + v._op)
            links.append((name + v._op, name))
    for child, parent in edges:
        links.append((str(id(child)), str(id(parent)) + parent._op))
    return names, links


def product_and_sum_of_the_same_two(V):
    a, b = V(2.0), V(-3.0)
    return (a * b) + (a + b)


def square_then_add_the_base(V):
    a = V(3.0)
    return a * a + a


def tanh_from_exp_graph(V):
    return tanh_from_exp(V(0.5))


def neuron_graph(V):
    return lecture_neuron(V)['o']


GRAPHS = [product_and_sum_of_the_same_two, square_then_add_the_base, tanh_from_exp_graph,
          neuron_graph]


@pytest.mark.parametrize("build", GRAPHS, ids=lambda f: f.__name__)
def test_lecture_draw_dot_edges_only_join_declared_nodes(build):
    root = build(Value)
    names, links = lecture_dot(root)
    declared = set(names)
    strays = [end for link in links for end in link if end not in declared]
    assert strays == []


# graphs without - or /: micrograd builds a - b as a + (b * -1) and a / b as a * b**-1,
# where microgradc makes one node (see the README's differences)
SAME_SHAPE_GRAPHS = [g for g in GRAPHS if g is not tanh_from_exp_graph]


@pytest.mark.parametrize("build", SAME_SHAPE_GRAPHS, ids=lambda f: f.__name__)
def test_lecture_draw_dot_has_micrograds_node_and_edge_counts(build, monkeypatch):
    give_micrograd_the_lectures_ops(monkeypatch)
    names, links = lecture_dot(build(Value))
    names_ref, links_ref = lecture_dot(build(REFERENCE))
    assert (len(set(names)), len(links)) == (len(set(names_ref)), len(links_ref))


def test_lecture_draw_dot_of_tanh_from_exp_draws_one_node_per_op():
    # by hand: Values x, 2, 2*x, e, 1, e-1, 1, e+1, o (9) and op nodes *, exp, -, +, / (5):
    # 14 names; an edge from each op node to its Value (5) and from each operand (9): 14
    names, links = lecture_dot(tanh_from_exp_graph(Value))
    assert (len(set(names)), len(links)) == (14, 14)


# ---------------------------------------------------------------------------
# 5. a Value takes attributes and weak references


def test_a_value_takes_an_attribute_and_gives_it_back():
    v = Value(1.5)
    v.name = 'x'
    made = v * 2
    made.name = 'twice x'
    assert v.name == 'x'
    assert made.name == 'twice x'


def test_an_attribute_set_on_a_value_is_seen_when_reached_through_prev():
    def named_children(V):
        x = V(1.5)
        x.name = 'x'
        y = x * 2
        y.name = 'y'
        return sorted(getattr(c, 'name', '<none>') for c in (y + x)._prev)

    assert named_children(REFERENCE) == ['x', 'y']
    assert named_children(Value) == ['x', 'y']


def test_a_weak_reference_to_a_value_gives_back_that_value():
    v = Value(1.5)
    made = v * 2
    assert weakref.ref(v)() is v
    assert weakref.ref(made)() is made


# ---------------------------------------------------------------------------
# 6. nn is as open as micrograd's


def seeded(seed, make):
    random.seed(seed)
    return make()


def outputs_of(out):
    return out if isinstance(out, list) else [out]


def forward_backward(model, x):
    """Outputs' data and every parameter's grad after backpropagating from their sum."""
    out = outputs_of(model(x))
    total = out[0]
    for o in out[1:]:
        total = total + o
    model.zero_grad()
    total.backward()
    return [o.data for o in out], [p.grad for p in model.parameters()]


def assert_same_numbers(ours, ref, x):
    data, grads = forward_backward(ours, x)
    data_ref, grads_ref = forward_backward(ref, x)
    assert mismatches(data, data_ref) == []
    assert mismatches(grads, grads_ref, abs_tol=1e-14) == []


def two_headed_model(nn):
    """A user's Module holding Layers (one of them in a list) with its own parameters()."""

    class TwoHeaded(nn.Module):
        def __init__(self):
            self.trunk = nn.Layer(3, 4)
            self.heads = [nn.Layer(4, 2), nn.Layer(4, 1, nonlin=False)]

        def __call__(self, x):
            h = self.trunk(x)
            left, right = self.heads[0](h), self.heads[1](h)
            return left[0] * right + left[1]

        def parameters(self):
            return self.trunk.parameters() + [p for head in self.heads for p in head.parameters()]

    return TwoHeaded()


def test_user_module_of_layers_zero_grads_and_backpropagates_like_micrograd():
    ours = seeded(3, lambda: two_headed_model(microgradc.nn))
    ref = seeded(3, lambda: two_headed_model(micrograd.nn))
    assert [p.data for p in ours.parameters()] == [p.data for p in ref.parameters()]
    assert_same_numbers(ours, ref, [0.5, -1.0, 2.0])
    ours.zero_grad()
    assert all(p.grad == 0 for p in ours.parameters())
    # a second pass only matches if zero_grad really cleared the first pass's grads
    out, out_ref = ours([-0.25, 1.5, 0.75]), ref([-0.25, 1.5, 0.75])
    out.backward()
    ref.zero_grad()
    out_ref.backward()
    assert close(out.data, out_ref.data)
    assert mismatches([p.grad for p in ours.parameters()],
                      [p.grad for p in ref.parameters()], abs_tol=1e-14) == []


def first_neuron(model):
    return model.layers[0].neurons[0]


# each change, written once for either package (nn) and its Value (V)
HAND_CHANGES = [
    ("n.w = [Value(-3.0), Value(1.0)]",
     lambda m, nn, V: setattr(first_neuron(m), 'w', [V(-3.0), V(1.0)])),
    ("n.b = Value(6.88)",
     lambda m, nn, V: setattr(first_neuron(m), 'b', V(6.88))),
    ("n.w[0] = Value(1.0)",
     lambda m, nn, V: first_neuron(m).w.__setitem__(0, V(1.0))),
    ("w.data = 0.25",
     lambda m, nn, V: setattr(m.layers[0].neurons[2].w[1], 'data', 0.25)),
    ("model.layers.append(Layer(2, 1, nonlin=False))",
     lambda m, nn, V: m.layers.append(seeded(21, lambda: nn.Layer(2, 1, nonlin=False)))),
    ("model.layers = [model.layers[0], Layer(3, 2, nonlin=False)]",
     lambda m, nn, V: setattr(m, 'layers', [m.layers[0],
                                            seeded(22, lambda: nn.Layer(3, 2, nonlin=False))])),
    ("layer.neurons[0] = Neuron(3)",
     lambda m, nn, V: m.layers[1].neurons.__setitem__(0, seeded(23, lambda: nn.Neuron(3)))),
    ("layer.neurons[0] = Neuron(3, nonlin=False)",
     lambda m, nn, V: m.layers[1].neurons.__setitem__(
         0, seeded(24, lambda: nn.Neuron(3, nonlin=False)))),
]


def test_weights_neurons_and_layers_set_by_hand_give_micrograds_outputs_and_grads():
    ours = seeded(9, lambda: microgradc.nn.MLP(2, [3, 2]))
    ref = seeded(9, lambda: micrograd.nn.MLP(2, [3, 2]))
    x = [0.5, -1.5]
    assert_same_numbers(ours, ref, x)  # the fused forward now exists, built for these weights
    for what, change in HAND_CHANGES:
        change(ours, microgradc.nn, Value)
        change(ref, micrograd.nn, REFERENCE)
        try:
            assert_same_numbers(ours, ref, x)
            assert_same_numbers(ours, ref, [-1.0, 2.0])
        except AssertionError as error:
            raise AssertionError(f"after {what}: {error}") from None


def test_a_weight_list_assigned_to_a_neuron_is_that_list_so_later_edits_through_it_count():
    def run(nn, V):
        neuron = seeded(4, lambda: nn.Neuron(2))
        ws = [V(-3.0), V(1.0)]
        neuron.w = ws
        ws[0] = V(2.0)  # the program edits the list it holds
        return neuron.w is ws, neuron([0.5, 0.25]).data

    assert run(micrograd.nn, REFERENCE) == (True, 1.25)
    assert run(microgradc.nn, Value) == (True, 1.25)


# ---------------------------------------------------------------------------
# 7. numpy arrays of Values


def test_float_array_times_value_is_an_object_array_of_values_like_micrograds():
    ours = np.array([1.0, 2.0]) * Value(2.0)
    ref = np.array([1.0, 2.0]) * REFERENCE(2.0)
    assert ours.dtype == object and ref.dtype == object
    assert all(type(v) is Value for v in ours)
    assert [v.data for v in ours] == [r.data for r in ref]


def test_value_times_float_array_is_an_object_array_of_values_with_micrograds_numbers():
    ours = Value(2.0) * np.array([1.0, 2.0])
    ref = REFERENCE(2.0) * np.array([1.0, 2.0])  # micrograd: one Value holding an array
    assert ours.dtype == object
    assert all(type(v) is Value for v in ours)
    assert [v.data for v in ours] == list(ref.data)


def test_numpy_float64_times_value_is_a_value_with_the_product():
    ours = np.float64(2) * Value(3.0)
    assert type(ours) is Value
    assert ours.data == 6.0
    assert ours.data == (np.float64(2) * REFERENCE(3.0)).data


def test_np_exp_over_an_object_array_gives_a_value_with_exps_data_and_grad():
    x = Value(0.5)
    (out,) = np.exp(np.array([x]))
    assert type(out) is Value
    out.backward()
    assert close(out.data, math.exp(0.5))
    assert close(x.grad, math.exp(0.5))  # d exp(x)/dx = exp(x)


def test_np_dot_of_object_arrays_backpropagates_to_micrograds_grads():
    def run(V):
        ws = [V(w) for w in (0.5, -1.25, 2.0)]
        xs = [V(x) for x in (1.5, -2.0, 0.25)]
        out = np.dot(np.array(ws, dtype=object), np.array(xs, dtype=object))
        out.backward()
        return out, [v.grad for v in ws + xs]

    out, grads = run(Value)
    out_ref, grads_ref = run(REFERENCE)
    assert type(out) is Value
    assert out.data == out_ref.data
    assert grads == grads_ref


# ---------------------------------------------------------------------------
# 8. repr


@pytest.mark.parametrize("data, text", [(2, 'Value(data=2, grad=0)'), (2.5, 'Value(data=2.5, grad=0)')])
def test_repr_is_micrograds(data, text):
    assert repr(REFERENCE(data)) == text
    assert repr(Value(data)) == text
