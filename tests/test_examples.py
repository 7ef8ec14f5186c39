"""The examples: each runs end to end and saves its plots, and each reaches what its docstring
promises, checked against independent references (a NumPy backpropagation written out by hand,
micrograd itself)."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from examples import circle, digits, moons, worked_example

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


# ---------------------------------------------------------------- the worked example by hand

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_backprop(W1, b1, W2, b2, X, T):
    """E = 1/2 * sum (o - t)^2 over the samples (columns of X, T), the outputs, and the
    gradients (dW1, db1, dW2, db2) by the chain rule."""
    H = sigmoid(W1 @ X + b1[:, None])          # hidden activations, one column per sample
    O = sigmoid(W2 @ H + b2[:, None])          # outputs
    E = 0.5 * np.sum((O - T) ** 2)
    delta2 = (O - T) * O * (1 - O)             # dE/dO = O - T; sigmoid'(z) = s(1 - s)
    delta1 = (W2.T @ delta2) * H * (1 - H)     # back through W2, then the hidden sigmoid
    grads = (delta1 @ X.T, delta1.sum(axis=1), delta2 @ H.T, delta2.sum(axis=1))
    return E, O, grads


def starting_point():
    """The example's starting weights and data as arrays: (W1, b1, W2, b2), X, T."""
    (W1, W2), (b1, b2) = map(np.array, worked_example.WEIGHTS), map(np.array, worked_example.BIASES)
    X, T = np.array(worked_example.INPUTS).T, np.array(worked_example.TARGETS).T
    return [W1, b1, W2, b2], X, T


def by_textbook_name(W1, b1, W2, b2):
    """{'w1[j][i]': W1[j, i], 'b1[j]': b1[j], ...}: the names the example prints."""
    named = {}
    for l, (W, b) in enumerate([(W1, b1), (W2, b2)], start=1):
        for j in range(W.shape[0]):
            named.update({f'w{l}[{j}][{i}]': W[j, i] for i in range(W.shape[1])})
            named[f'b{l}[{j}]'] = b[j]
    return named


def test_worked_example_gradient_table_equals_numpy_backprop_by_hand():
    params, X, T = starting_point()
    E, _, grads = numpy_backprop(*params, X, T)
    values, expected = by_textbook_name(*params), by_textbook_name(*grads)

    E_table, table = worked_example.gradient_table(worked_example.network())
    assert math.isclose(E_table, E, rel_tol=1e-12)
    assert [name for name, _, _ in table] == list(expected)  # all 12 parameters, in order
    for name, value, grad in table:
        assert value == values[name]
        assert math.isclose(grad, expected[name], rel_tol=1e-12), name


def test_worked_example_one_summed_update_of_step_half_equals_numpy():
    params, X, T = starting_point()
    _, _, grads = numpy_backprop(*params, X, T)
    expected = by_textbook_name(*[p - 0.5 * g for p, g in zip(params, grads)])

    model = worked_example.network()
    worked_example.gradient_table(model)
    worked_example.update(model)
    for name, parameter in worked_example.textbook_parameters(model):
        assert math.isclose(parameter.data, expected[name], rel_tol=1e-12), name


def test_worked_example_200_epochs_follow_numpy_and_learn_the_targets():
    params, X, T = starting_point()
    numpy_history = []
    for _ in range(200):
        E, _, grads = numpy_backprop(*params, X, T)
        numpy_history.append(E)
        params = [p - 0.5 * g for p, g in zip(params, grads)]
    _, numpy_outputs, _ = numpy_backprop(*params, X, T)

    model = worked_example.network()
    history = worked_example.train(model, 200)
    np.testing.assert_allclose(history, numpy_history, rtol=1e-10)
    outputs = np.array([[o.data for o in model(x)] for x in worked_example.INPUTS]).T
    np.testing.assert_allclose(outputs, numpy_outputs, rtol=1e-10)
    assert np.all(np.abs(outputs - T) < 0.1)  # each output within 0.1 of its target


# ---------------------------------------------------------------- what the examples promise

def test_moons_matches_micrograds_demo_step_by_step():
    from micrograd.engine import Value as ReferenceValue
    from micrograd.nn import MLP as ReferenceMLP

    steps = 2  # the second step's loss depends on the first update
    _, _, _, history = moons.train(steps)

    X, y = moons.dataset()  # reseeds both generators, as the demo notebook does
    model = ReferenceMLP(2, [16, 16, 1])
    for k in range(steps):  # micrograd's demo.ipynb, verbatim in substance
        scores = [model([ReferenceValue(a), ReferenceValue(b)]) for a, b in X.tolist()]
        margins = [(1 + -yi * si).relu() for yi, si in zip(y.tolist(), scores)]
        data_loss = sum(margins) * (1.0 / len(margins))
        total_loss = data_loss + 1e-4 * sum(p * p for p in model.parameters())
        accuracy = np.mean([(yi > 0) == (si.data > 0) for yi, si in zip(y, scores)])
        model.zero_grad()
        total_loss.backward()
        for p in model.parameters():
            p.data -= (1.0 - 0.9 * k / 100) * p.grad
        assert math.isclose(history[k][0], total_loss.data, rel_tol=1e-12)
        assert history[k][1] == accuracy


def test_moons_reaches_100_percent_training_accuracy_in_100_steps():
    _, _, _, history = moons.train(100)
    loss, accuracy = history[-1]
    assert accuracy == 1.0
    assert loss < 0.05


def test_circle_nine_tanh_neurons_learn_the_circle():
    X, y = circle.dataset()
    assert 0.25 < np.mean(y > 0) < 0.45  # pi/9 of the square is inside: both classes present
    model, history = circle.train(9, X, y, epochs=1000)
    _, accuracy = history[-1]
    assert accuracy >= 0.98
    inside = [model([0.0, 0.0]).data, model([0.5, -0.5]).data]
    outside = [model([1.4, 1.4]).data, model([-1.4, 0.2]).data]
    assert min(inside) > 0 > max(outside)


def test_digits_reach_95_percent_test_accuracy():
    _, step_losses, (X_test, y_test), accuracies = digits.train(epochs=20)
    assert len(X_test) == 450 and len(step_losses) == 20 * 43  # 1347 training images, batches of 32
    assert accuracies[-1] >= 0.95


# ---------------------------------------------------------------- each example end to end

@pytest.mark.parametrize('name, options, pngs', [
    ('moons', [], ['moons.png']),
    ('moons', ['--compiled'], ['moons-compiled.png']),
    ('circle', [], ['circle-boundaries.png', 'circle-training.png']),
    ('digits', [], ['digits-loss.png', 'digits-predictions.png']),
    ('digits', ['--compiled'], ['digits-compiled-loss.png', 'digits-compiled-predictions.png']),
    ('worked_example', [], ['worked-example-loss.png']),
], ids=['moons', 'moons-compiled', 'circle', 'digits', 'digits-compiled', 'worked_example'])
def test_example_runs_as_a_module_saves_its_plots_under_its_runs_names_and_logs_no_bar(
        tmp_path, name, options, pngs):
    # its output is a pipe here, as in a log: a progress bar would add a line per update
    out = tmp_path / 'plots'  # not there yet: the example makes it
    run = subprocess.run([sys.executable, '-m', f'examples.{name}', '--out', str(out), '--quick',
                          *options], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
    assert '\r' not in run.stdout + run.stderr  # a bar redraws itself after carriage returns
    assert sorted(os.listdir(out)) == sorted(pngs)
    for png in pngs:
        data = (out / png).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000

