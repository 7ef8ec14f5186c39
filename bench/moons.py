"""micrograd's demo step: 100 two-moons points, MLP(2, [16, 16, 1]), hinge + 1e-4 * L2, SGD.

A step is the loss over the whole batch, its backward, and the SGD update with the
demo's decaying learning rate.
  micrograd, drop-in: demo.ipynb's loss() and loop body verbatim (it also counts the
      accuracy), handed micrograd's Value and MLP or microgradc's;
  nn: microgradc.nn.MLP, losses.hinge + 1e-4 * losses.l2, optim.SGD;
  compiled: that loss function traced by microgradc.compile: step(X, y),
      opt.step(), opt.zero_grad();
  torch: Sequential(Linear(2, 16), ReLU, Linear(16, 16), ReLU, Linear(16, 1)),
      relu(1 - y * s).mean() + 1e-4 * sum of p**2, torch.optim.SGD.
"""
import random
from time import perf_counter

import numpy as np

from .timing import Metric, Workload, training_sample

MIN_SECONDS, QUICK_MIN_SECONDS = 0.5, 0.05  # a sample's steps fill at least this


def dataset():
    """The demo's data, seeded as its notebook: 100 points, labels -1 and +1."""
    from sklearn.datasets import make_moons
    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    return X, y * 2 - 1


def demo(Value, MLP):
    """demo.ipynb's model, loss() and loop body, verbatim; returns (step(k), facts).
    step(k) runs the loop's step k and returns its (loss, accuracy) as floats."""
    X, y = dataset()

    # initialize a model
    model = MLP(2, [16, 16, 1]) # 2-layer neural network

    # loss function
    def loss(batch_size=None):

        # inline DataLoader :)
        if batch_size is None:
            Xb, yb = X, y
        else:
            ri = np.random.permutation(X.shape[0])[:batch_size]
            Xb, yb = X[ri], y[ri]
        inputs = [list(map(Value, xrow)) for xrow in Xb]

        # forward the model to get scores
        scores = list(map(model, inputs))

        # svm "max-margin" loss
        losses = [(1 + -yi*scorei).relu() for yi, scorei in zip(yb, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        # L2 regularization
        alpha = 1e-4
        reg_loss = alpha * sum((p*p for p in model.parameters()))
        total_loss = data_loss + reg_loss

        # also get accuracy
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(yb, scores)]
        return total_loss, sum(accuracy) / len(accuracy)

    def step(k):
        k = k % 100  # the demo's 100 steps of decay, over and over

        # forward
        total_loss, acc = loss()

        # backward
        model.zero_grad()
        total_loss.backward()

        # update (sgd)
        learning_rate = 1.0 - 0.9*k/100
        for p in model.parameters():
            p.data -= learning_rate * p.grad

        return float(total_loss.data), float(acc)

    return step, {}


def micrograd_setup():
    """The demo on micrograd."""
    from micrograd.engine import Value
    from micrograd.nn import MLP
    return demo(Value, MLP)


def drop_in_setup():
    """The demo, its imports changed to microgradc's."""
    from microgradc.engine import Value
    from microgradc.nn import MLP
    return demo(Value, MLP)


def idiomatic(compiled):
    """The demo in microgradc's own terms, eager or compiled; returns (step(k), facts)."""
    import microgradc as mg
    X, y = dataset()
    model = mg.nn.MLP(2, [16, 16, 1])
    opt = mg.optim.SGD(model.parameters(), lr=1.0)

    def loss_fn(points, labels):
        scores = [model(point) for point in points]
        return mg.losses.hinge(scores, labels) + 1e-4 * mg.losses.l2(model.parameters())

    if compiled:
        start = perf_counter()
        traced = mg.compile(loss_fn, X, y)
        facts = {'compile_s': perf_counter() - start, 'slots': traced.slots}

        def step(k):
            traced(X, y)
            opt.lr = 1.0 - 0.9 * (k % 100) / 100
            opt.step()
            opt.zero_grad()
        return step, facts

    points, labels = X.tolist(), y.tolist()

    def step(k):
        loss = loss_fn(points, labels)
        opt.zero_grad()
        loss.backward()
        opt.lr = 1.0 - 0.9 * (k % 100) / 100
        opt.step()
    return step, {}


def torch_setup():
    """The demo's model, loss and SGD in PyTorch, float64; returns (step(k), facts)."""
    import torch
    X, y = dataset()
    torch.manual_seed(1337)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(),
        torch.nn.Linear(16, 1)).double()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    points, labels = torch.from_numpy(X), torch.from_numpy(y).double()

    def step(k):
        scores = model(points).squeeze(1)
        loss = (torch.relu(1 - labels * scores).mean()
                + 1e-4 * sum((p * p).sum() for p in model.parameters()))
        opt.zero_grad()
        loss.backward()
        opt.param_groups[0]['lr'] = 1.0 - 0.9 * (k % 100) / 100
        opt.step()
    return step, {}


def workload(quick):
    """The moons Workload; --quick shortens each sample's minimum time."""
    min_seconds = QUICK_MIN_SECONDS if quick else MIN_SECONDS

    def measure(setup):
        return lambda: training_sample(setup, min_seconds, also_paused=True)

    return Workload(
        name='moons',
        title="moons demo step: 100 points, MLP(2, [16, 16, 1]), hinge + 1e-4 * L2, SGD",
        metrics=[
            Metric('step_s', 'step (ms)', scale=1e3, chart=True),
            Metric('step_s_gc_paused', 'step, collector paused (ms)', scale=1e3),
            Metric('compile_s', 'compile (ms)', scale=1e3, ratios=False),
        ],
        measures={
            'micrograd': measure(micrograd_setup),
            'drop-in': measure(drop_in_setup),
            'nn': measure(lambda: idiomatic(compiled=False)),
            'compiled': measure(lambda: idiomatic(compiled=True)),
            'torch': measure(torch_setup),
        },
    )
