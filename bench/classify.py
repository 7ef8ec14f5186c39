"""Softmax classifiers: sklearn's digits, MLP(64, [32, 10]), an epoch; and an
MNIST-shaped MLP(784, [50, 10]) step on synthetic data.

A step is the softmax cross-entropy of a minibatch of 32, its backward, and an Adam
update (lr 1e-2); ReLU hidden layer, linear outputs.
  micrograd, drop-in: a micrograd user's code: the MLP, a cross-entropy made of exp
      and log, Adam in Python (torch.optim.Adam's arithmetic). micrograd has no exp or
      log, so its user writes them as micrograd writes relu; drop-in runs the same
      code on microgradc's Value and MLP, with Value.exp and Value.log;
  nn: microgradc.nn.MLP, losses.softmax_cross_entropy (class indices), optim.Adam;
  compiled: that loss traced by microgradc.compile, the labels as one-hot rows;
  torch: Sequential(Linear, ReLU, Linear), F.cross_entropy, torch.optim.Adam.
"""
import math
from time import perf_counter

import numpy as np

from .timing import Metric, Workload, training_sample

BATCH, QUICK_BATCH = 32, 2
MNIST_BATCHES = 4                           # synthetic minibatches, cycled
MIN_SECONDS, QUICK_MIN_SECONDS = 0.5, 0.05  # a sample's steps fill at least this
LR = 1e-2


# a micrograd user's code: micrograd has no exp, log or optimizer

def micrograd_exp(x):
    """e**x as a micrograd node, made as micrograd makes relu."""
    out = type(x)(math.exp(x.data), (x,), 'exp')

    def _backward():
        x.grad += out.data * out.grad
    out._backward = _backward
    return out


def micrograd_log(x):
    """log(x) as a micrograd node, made as micrograd makes relu."""
    out = type(x)(math.log(x.data), (x,), 'log')

    def _backward():
        x.grad += out.grad / x.data
    out._backward = _backward
    return out


def cross_entropy(rows, labels, exp, log):
    """Mean over rows of -log(softmax(row)[label]), each row shifted by its largest logit."""
    total = 0
    for row, label in zip(rows, labels):
        top = max(z.data for z in row)
        total = total + log(sum(exp(z - top) for z in row)) - (row[label] - top)
    return total * (1.0 / len(rows))


class PythonAdam:
    """torch.optim.Adam's arithmetic in Python, one parameter at a time."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m, self.v, self.t = [0.0] * len(params), [0.0] * len(params), 0

    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        correction1, correction2 = 1 - beta1 ** self.t, 1 - beta2 ** self.t
        for i, p in enumerate(self.params):
            g = p.grad
            self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
            self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
            update = (self.m[i] / correction1) / (math.sqrt(self.v[i] / correction2) + self.eps)
            p.data -= self.lr * update


def users_code(MLP, exp, log, sizes, batches):
    """The micrograd user's training step over `batches`; returns (step(k), facts)."""
    model = MLP(sizes[0], sizes[1:])
    opt = PythonAdam(model.parameters(), LR)
    batches = [(X.tolist(), labels.tolist()) for X, labels in batches]

    def step(k):
        X, labels = batches[k % len(batches)]
        loss = cross_entropy([model(image) for image in X], labels, exp, log)
        model.zero_grad()
        loss.backward()
        opt.step()
    return step, {}


def micrograd_setup(sizes, batches):
    """The user's code on micrograd."""
    from micrograd.nn import MLP
    return users_code(MLP, micrograd_exp, micrograd_log, sizes, batches)


def drop_in_setup(sizes, batches):
    """The user's code, its imports changed to microgradc's."""
    from microgradc.nn import MLP
    return users_code(MLP, lambda z: z.exp(), lambda z: z.log(), sizes, batches)


def nn_setup(sizes, batches):
    """microgradc's MLP, loss and Adam, eager; returns (step(k), facts)."""
    import microgradc as mg
    model = mg.nn.MLP(sizes[0], sizes[1:])
    opt = mg.optim.Adam(model.parameters(), lr=LR)
    batches = [(X.tolist(), labels.tolist()) for X, labels in batches]

    def step(k):
        X, labels = batches[k % len(batches)]
        loss = mg.losses.softmax_cross_entropy([model(image) for image in X], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, {}


def compiled_setup(sizes, batches):
    """nn_setup's loss traced by microgradc.compile; returns (step(k), facts)."""
    import microgradc as mg
    model = mg.nn.MLP(sizes[0], sizes[1:])
    opt = mg.optim.Adam(model.parameters(), lr=LR)
    batches = [(X, np.eye(sizes[-1])[labels]) for X, labels in batches]

    def loss_fn(images, one_hot):
        return mg.losses.softmax_cross_entropy([model(image) for image in images], one_hot)

    start = perf_counter()
    traced = mg.compile(loss_fn, *batches[0])
    facts = {'compile_s': perf_counter() - start, 'slots': traced.slots}

    def step(k):
        traced(*batches[k % len(batches)])
        opt.step()
        opt.zero_grad()
    return step, facts


def torch_setup(sizes, batches):
    """The same MLP, loss and Adam in PyTorch, float64; returns (step(k), facts)."""
    import torch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                torch.nn.Linear(sizes[1], sizes[2])).double()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    batches = [(torch.from_numpy(X), torch.from_numpy(labels)) for X, labels in batches]

    def step(k):
        X, labels = batches[k % len(batches)]
        loss = torch.nn.functional.cross_entropy(model(X), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, {}


SETUPS = {'micrograd': micrograd_setup, 'drop-in': drop_in_setup, 'nn': nn_setup,
          'compiled': compiled_setup, 'torch': torch_setup}


def tape_slots(sizes, batches):
    """The nodes of the compiled step's tape, or None without microgradc."""
    try:
        return compiled_setup(sizes, batches)[1]['slots']
    except ImportError:
        return None


def classifier(name, title, sizes, batches, step_metric, quick):
    """A Workload training MLP(sizes[0], sizes[1:]) on `batches` with every engine."""
    min_seconds = QUICK_MIN_SECONDS if quick else MIN_SECONDS
    slots = tape_slots(sizes, batches)
    metrics = [step_metric, Metric('compile_s', 'compile (ms)', scale=1e3, ratios=False)]
    if slots:
        metrics.insert(1, Metric('ns_per_slot', f'step / {slots:,} tape slots (ns)', ratios=False))

    def measure(setup):
        return lambda: training_sample(lambda: setup(sizes, batches), min_seconds, slots)
    return Workload(name, title, metrics,
                    {engine: measure(setup) for engine, setup in SETUPS.items()})


def digits(quick):
    """An epoch of examples/digits.py: its training split (75% of sklearn's digits,
    pixels / 16), shuffled, in full minibatches."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    data = load_digits()
    X, _, labels, _ = train_test_split(data.data / 16.0, data.target, test_size=0.25,
                                       random_state=0, stratify=data.target)
    batch = QUICK_BATCH if quick else BATCH
    order = np.random.default_rng(0).permutation(len(X))
    batches = [(X[order[i:i + batch]], labels[order[i:i + batch]])
               for i in range(0, len(X) - batch + 1, batch)]
    return classifier(
        'digits', f"digits epoch: sklearn's 8x8 digits, {len(batches) * batch:,} training "
                  f"images in {len(batches)} minibatches of {batch}, MLP(64, [32, 10]), "
                  f"softmax cross-entropy, Adam",
        [64, 32, 10], batches,
        Metric('step_s', f'epoch, {len(batches)} steps (s)', scale=len(batches), chart=True), quick)


def mnist(quick):
    """A step of an MNIST-shaped MLP on synthetic images: uniform pixels, random labels."""
    batch = QUICK_BATCH if quick else BATCH
    rng = np.random.default_rng(0)
    batches = [(rng.random((batch, 784)), rng.integers(0, 10, batch))
               for _ in range(MNIST_BATCHES)]
    return classifier(
        'mnist', f"MNIST-shaped step: MLP(784, [50, 10]) on synthetic minibatches of {batch} "
                 f"(uniform pixels, random labels), softmax cross-entropy, Adam",
        [784, 50, 10], batches, Metric('step_s', 'step (ms)', scale=1e3, chart=True), quick)
