"""Dense blocks in a compiled step: one layer applied to many rows, run a row at a time
as one kernel (csrc/tape.c).

The eager graph of the same function is the reference: the loss and the extras are
the same to the bit, the parameter grads agree to 1e-12, call after call of a
training run; torch float64 checks the grads independently. The row counts cover
every remainder of the kernels' four-wide vectors, and the widths are odd.
"""
import random

import numpy as np
import pytest
import torch
from helpers import classifier, close, loss_of

from microgradc import Value, compile, losses
from microgradc.nn import Layer
from microgradc.optim import SGD

ROWS = [1, 2, 3, 5, 31, 32, 33]
REL = 1e-12


def eager(fn, X, one_hot, parameters):
    """fn on Values built from X, backward; (loss, extras, grads), grads zeroed after."""
    loss, scores = fn([[Value(x) for x in row] for row in X.tolist()], one_hot.tolist())
    loss.backward()
    grads = [p.grad for p in parameters]
    for p in parameters:
        p.grad = 0.0
    return loss.data, [[s.data for s in row] for row in scores], grads


def assert_grads_close(ours, reference):
    largest = max(abs(g) for g in reference)
    for a, b in zip(ours, reference):
        assert close(a, b, rel_tol=REL, abs_tol=REL * largest), (a, b)


def assert_step_is_eager(step, fn, X, parameters):
    """step(X)'s loss is fn's eager loss on X to the bit, its grads fn's backward's."""
    loss = step(X)
    ours = [p.grad for p in parameters]
    for p in parameters:
        p.grad = 0.0
    expected = fn([[Value(x) for x in row] for row in X.tolist()])
    expected.backward()
    assert loss == expected.data
    assert_grads_close(ours, [p.grad for p in parameters])


@pytest.mark.parametrize("reg", [0.0, 1e-3], ids=["no-l2", "l2-reads-the-weights"])
@pytest.mark.parametrize("rows", ROWS)
def test_a_minibatch_through_dense_blocks_gives_eager_bits_and_grads_for_three_steps(rows, reg):
    model, X, one_hot = classifier(rows)
    fn = loss_of(model, reg)
    parameters = model.parameters()
    step = compile(fn, X, one_hot)
    assert step.dense_blocks == 2  # both layers, whatever the number of rows
    opt = SGD(parameters, lr=0.1)
    for k in range(3):
        X_k = X + 0.25 * k  # new data each call, as a training loop feeds
        expected_loss, expected_scores, expected_grads = eager(fn, X_k, one_hot, parameters)
        loss, scores = step(X_k, one_hot)
        assert loss == expected_loss
        assert scores.tolist() == expected_scores
        assert_grads_close([p.grad for p in parameters], expected_grads)
        opt.step()  # the next call reads the weights afresh
        opt.zero_grad()


def test_dense_block_grads_match_torch_float64():
    model, X, one_hot = classifier(5)
    step = compile(loss_of(model, 1e-3), X, one_hot)
    step(X, one_hot)
    ours = [p.grad for p in model.parameters()]

    layers = []
    for layer in model.layers:
        w = torch.tensor([[p.data for p in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        layers.append((w, b))
    h = torch.tensor(X)
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = torch.tanh(h)
    loss = torch.nn.functional.cross_entropy(h, torch.tensor(one_hot).argmax(1))
    loss = loss + 1e-3 * sum((w * w).sum() + (b * b).sum() for w, b in layers)
    loss.backward()
    reference = []
    for w, b in layers:  # micrograd's parameters() order: each neuron's weights, then its bias
        for j in range(w.shape[0]):
            reference += w.grad[j].tolist() + [b.grad[j].item()]
    assert_grads_close(ours, reference)


def test_a_layer_applied_to_its_own_output_shares_one_block_and_gives_eager_grads():
    random.seed(1)
    layer = Layer(4, 4, activation='tanh')
    X = np.random.default_rng(1).normal(size=(6, 4))

    def fn(images):
        outs = [layer(layer(image)) for image in images]  # the same weights, twice a row
        return losses.l2([o for out in outs for o in out])

    step = compile(fn, X)
    assert step.dense_blocks == 1
    assert_step_is_eager(step, fn, X, layer.parameters())


def test_rows_whose_inputs_are_values_of_the_model_get_their_grads_as_eager():
    random.seed(2)
    layer = Layer(3, 5, activation='relu')
    embeddings = [[Value(random.uniform(-1, 1)) for _ in range(3)] for _ in range(4)]

    def fn():
        return losses.l2([o for row in embeddings for o in layer(row)])

    step = compile(fn)  # no example arrays: traced at the first call
    step()
    assert step.dense_blocks == 1
    learned = layer.parameters() + [e for row in embeddings for e in row]
    ours = [v.grad for v in learned]
    for v in learned:
        v.grad = 0.0
    fn().backward()
    assert_grads_close(ours, [v.grad for v in learned])


def test_a_row_that_reads_one_input_twice_runs_dot_by_dot_with_eager_grads():
    random.seed(3)
    layer = Layer(3, 4, activation='tanh')
    X = np.random.default_rng(3).normal(size=(5, 2))

    def fn(images):
        return losses.l2([o for a, b in images for o in layer([a, a, b])])

    step = compile(fn, X)
    assert step.dense_blocks == 0  # its kernel would add the repeated input's grads once
    assert_step_is_eager(step, fn, X, layer.parameters())


@pytest.mark.parametrize("order", ["in-order", "reversed"])
def test_rows_reading_their_inputs_in_or_out_of_slot_order_give_eager_bits_and_grads(order):
    # in order, a block reads its rows' inputs where they are; reversed, it gathers them
    model, X, one_hot = classifier(6, nin=19, widths=(9, 3))
    pick = (lambda image: image) if order == "in-order" else (lambda image: image[::-1])

    def fn(images):
        return losses.softmax_cross_entropy([model(pick(image)) for image in images],
                                            one_hot.tolist())

    step = compile(fn, X)
    assert step.dense_blocks == 2
    for k in range(2):
        for p in model.parameters():  # the last check left eager's grads in them
            p.grad = 0.0
        assert_step_is_eager(step, fn, X + k, model.parameters())
