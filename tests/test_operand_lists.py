"""A layer's dots read runs of shared operand lists (csrc/internal.h): the layer's
parameters held once for all its calls, and each call's inputs once for all its
neurons. The graph must look and behave as if every dot held its own children:
_prev, lifetimes, a loss that reads only some of a layer's outputs (the walks then
reach runs of a list that do not join up), weights replaced by computed Values.
torch float64, given the same numbers, is the reference throughout.
"""
import gc
import random

import numpy as np
import pytest
import torch
from helpers import close

from microgradc import Value, compile
from microgradc.nn import MLP

REL = 1e-12


def torch_mlp(model, X):
    """model's forward on the rows of X in torch float64: (outputs, weight tensors)."""
    tensors, h = [], torch.tensor(X, dtype=torch.float64)
    for k, layer in enumerate(model.layers):
        w = torch.tensor([[wi.data for wi in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        tensors += [w, b]
        h = h @ w.T + b
        if k + 1 < len(model.layers):
            h = torch.relu(h)
    return h, tensors


def torch_grads(model, X, picks):
    """The grads of sum over rows of (sum of out[r][j] ** 2 for j in picks) in torch, in
    model.parameters() order."""
    out, tensors = torch_mlp(model, X)
    (out[:, picks] ** 2).sum().backward()
    grads = []
    for w, b in zip(tensors[::2], tensors[1::2]):
        for j in range(w.shape[0]):
            grads += w.grad[j].tolist() + [b.grad[j].item()]
    return grads


def loss_fn(model, picks):
    def fn(rows):
        outs = [model(row) for row in rows]
        return sum((out[j] ** 2 for out in outs for j in picks), Value(0.0))
    return fn


def assert_close_all(ours, reference):
    largest = max(abs(g) for g in reference)
    for a, b in zip(ours, reference):
        assert close(a, b, rel_tol=REL, abs_tol=REL * largest), (a, b)


@pytest.mark.parametrize("picks", [[0, 2], [3, 1, 0], [1], [2, 3], [0, 1, 2, 3]])
def test_a_loss_reading_some_outputs_of_a_layer_gets_torchs_grads(picks):
    # picks [0, 2] reaches the runs of neurons 2 and 0 of the output layer in the list of
    # parameters, which do not join up; [3, 1, 0] joins up only after the third
    random.seed(1)
    model = MLP(6, [5, 4])
    X = np.random.default_rng(2).normal(size=(3, 6))
    reference = torch_grads(model, X, picks)
    unused = {(j, i) for j in range(4) if j not in picks for i in range(5)}
    fn = loss_fn(model, picks)

    loss = fn([[Value(x) for x in row] for row in X.tolist()])
    loss.backward()
    eager = [p.grad for p in model.parameters()]
    assert_close_all(eager, reference)
    out_layer = model.layers[1].neurons
    for j, i in unused:  # nothing reached them: untouched, not given 0 * something
        assert out_layer[j].w[i].grad == 0.0
        assert not np.signbit(out_layer[j].w[i].grad)

    model.zero_grad()
    step = compile(fn, X)
    step(X)
    assert [p.grad for p in model.parameters()] == eager


def test_an_output_outlives_its_model_and_parameters():
    # the layer's operand list holds its parameters: with the model and every other
    # Value of it gone, the graph still reads them and backward still reaches them
    random.seed(5)  # three of the four hidden units are active for X
    model = MLP(3, [4, 2])
    X = [[0.5, -1.0, 2.0]]
    reference = torch_grads(model, np.array(X), [0, 1])
    xs = [Value(x) for x in X[0]]
    out = model(xs)
    loss = out[0] ** 2 + out[1] ** 2
    del model, out
    gc.collect()
    loss.backward()
    dots = [v for v in loss_graph(loss) if v._op == 'dot']
    assert len(dots) == 6
    found = {}  # the leaves the dots read, but for the inputs: the weights and biases
    for d in dots:
        for child in d._prev:
            if not child._prev and not any(child is x for x in xs):
                found[id(child)] = child  # held, so that no other Value takes its id()
    ours = sorted(child.grad for child in found.values())
    assert len(ours) == len(reference)
    assert_close_all(ours, sorted(reference))


def loss_graph(root):
    seen, stack = {}, [root]
    while stack:
        v = stack.pop()
        if id(v) not in seen:
            seen[id(v)] = v
            stack.extend(v._prev)
    return list(seen.values())


def test_a_layer_neurons_children_are_its_weights_inputs_and_bias():
    random.seed(4)
    model = MLP(3, [2])
    xs = [Value(1.0), Value(2.0), Value(3.0)]
    out = model(xs)
    for j, neuron in enumerate(model.layers[0].neurons):
        dot = out[j]
        while dot._op != 'dot':
            (dot,) = dot._prev
        assert dot._prev == set(neuron.w) | set(xs) | {neuron.b}
        assert dot.data == sum((w.data * x.data for w, x in zip(neuron.w, xs)), neuron.b.data)


def test_a_weight_replaced_by_a_computed_value_gets_its_grad_through_the_layer():
    # the layer's list then holds a node with children, which backward must walk into
    random.seed(5)
    model = MLP(2, [3, 1])
    a, b = Value(0.7), Value(-1.3)
    model.layers[0].neurons[1].w[0] = a * b
    model.layers[0].neurons[1].b.data = 3.0  # active for x below
    x = [0.25, -0.5]
    out = model(x)  # one output: a Value, as micrograd gives it
    out.backward()
    # torch: the same net with w[1][0] = a * b
    ta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(-1.3, dtype=torch.float64, requires_grad=True)
    layer0 = model.layers[0].neurons
    rows = [[(ta * tb) if (j, i) == (1, 0) else torch.tensor(w.data, dtype=torch.float64)
             for i, w in enumerate(n.w)] for j, n in enumerate(layer0)]
    tx = torch.tensor(x, dtype=torch.float64)
    h = torch.relu(torch.stack([torch.stack(r) @ tx + n.b.data for r, n in zip(rows, layer0)]))
    top = model.layers[1].neurons[0]
    (torch.tensor([w.data for w in top.w], dtype=torch.float64) @ h + top.b.data).backward()
    assert close(a.grad, ta.grad.item(), rel_tol=REL)
    assert close(b.grad, tb.grad.item(), rel_tol=REL)
    assert a.grad != 0.0


def test_a_fused_layer_refuses_a_parameter_that_is_not_a_value():
    from microgradc.fused import Dense
    with pytest.raises(TypeError, match="parameters must be Values, not float"):
        Dense([Value(1.0), 2.0], [1, 1], ['linear'])
    layer = Dense([Value(1.0), Value(2.0)], [1, 1], ['linear'])
    assert [v.data for v in layer([3.0])] == [1.0 * 3.0 + 2.0]
