"""Softmax classifiers: sklearn's digits, MLP(64, [32, 10]), an epoch; an
MNIST-shaped MLP(784, [50, 10]) step on synthetic data; and a larger
MLP(784, [256, 128, 10]) step on minibatches of 64 (micrograd does not run it: one
of its steps would take about ten minutes).

A step is the softmax cross-entropy of a minibatch of 32, its backward, and an Adam
update (lr 1e-2); ReLU hidden layer, linear outputs.
  micrograd, drop-in: a micrograd user's code: the MLP, a cross-entropy made of exp
      and log, Adam in Python (torch.optim.Adam's arithmetic). micrograd has no exp or
      log, so its user writes them as micrograd writes relu; drop-in runs the same
      code on microgradc's Value and MLP, with Value.exp and Value.log;
  nn: microgradc.nn.MLP, losses.softmax_cross_entropy (class indices), optim.Adam;
  compiled: that loss traced by microgradc.compile, the labels as one-hot rows;
      compiled-threads: the same with compile(..., threads=2);
  torch: Sequential(Linear, ReLU, ..., Linear), F.cross_entropy, torch.optim.Adam, on
      one thread; torch-threads: the same on PyTorch's default number of threads;
  limit: the same forward and backward as numpy matrix products on one thread
      (threadpoolctl), and Adam as numpy arrays: how fast the hardware does this step.
"""
import math
from contextlib import nullcontext
from itertools import pairwise
from time import perf_counter

import numpy as np

from .engines import torch_default_threads
from .timing import Metric, Workload, training_sample

BATCH, QUICK_BATCH = 32, 2
LARGE_BATCH = 64
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


def compiled_setup(sizes, batches, threads=1):
    """nn_setup's loss traced by microgradc.compile (its dense kernels on `threads`
    threads); returns (step(k), facts)."""
    import microgradc as mg
    model = mg.nn.MLP(sizes[0], sizes[1:])
    opt = mg.optim.Adam(model.parameters(), lr=LR)
    batches = [(X, np.eye(sizes[-1])[labels]) for X, labels in batches]

    def loss_fn(images, one_hot):
        return mg.losses.softmax_cross_entropy([model(image) for image in images], one_hot)

    start = perf_counter()
    traced = mg.compile(loss_fn, *batches[0], threads=threads)
    facts = {'compile_s': perf_counter() - start, 'slots': traced.slots}

    def step(k):
        traced(*batches[k % len(batches)])
        opt.step()
        opt.zero_grad()
    return step, facts


def compiled_threads_setup(sizes, batches):
    """compiled_setup with the dense kernels on two threads (the bench machine's cores)."""
    return compiled_setup(sizes, batches, threads=2)


def torch_setup(sizes, batches):
    """The same MLP, loss and Adam in PyTorch, float64, on the threads torch has (one,
    unless the sample runs in engines.torch_default_threads()); returns (step(k), facts)."""
    import torch
    torch.manual_seed(0)
    layers = []
    for nin, nout in pairwise(sizes):
        layers += [torch.nn.Linear(nin, nout), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1]).double()  # a linear last layer
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    batches = [(torch.from_numpy(X), torch.from_numpy(labels)) for X, labels in batches]

    def step(k):
        X, labels = batches[k % len(batches)]
        loss = torch.nn.functional.cross_entropy(model(X), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step, {'threads': torch.get_num_threads()}


def torch_threads_setup(sizes, batches):
    """torch_setup on PyTorch's default number of threads (the sample runs inside
    engines.torch_default_threads())."""
    return torch_setup(sizes, batches)


def limit_setup(sizes, batches):
    """The step as numpy matrix products on one thread: ReLU MLP, softmax cross-entropy
    of the mean, its backward, Adam (torch's arithmetic); returns (step(k), facts)."""
    rng = np.random.default_rng(0)  # numpy's BLAS runs on one thread (load_engines)
    weights = [rng.uniform(-1, 1, (nout, nin)) for nin, nout in pairwise(sizes)]
    biases = [np.zeros(nout) for nout in sizes[1:]]
    params = weights + biases
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def step(k):
        X, labels = batches[k % len(batches)]
        hs = [X]
        for i, (w, b) in enumerate(zip(weights, biases)):
            z = hs[-1] @ w.T + b
            hs.append(np.maximum(z, 0.0) if i < len(weights) - 1 else z)
        z = hs[-1] - hs[-1].max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        rows = np.arange(len(X))
        g = p
        g[rows, labels] -= 1.0
        g /= len(X)
        grads_w, grads_b = [None] * len(weights), [None] * len(weights)
        for i in range(len(weights) - 1, -1, -1):
            grads_w[i] = g.T @ hs[i]
            grads_b[i] = g.sum(axis=0)
            if i:
                g = (g @ weights[i]) * (hs[i] > 0)
        t = k + 1
        for param, grad, mi, vi in zip(params, grads_w + grads_b, m, v):
            mi *= beta1
            mi += (1 - beta1) * grad
            vi *= beta2
            vi += (1 - beta2) * grad * grad
            param -= LR / (1 - beta1 ** t) * mi / (np.sqrt(vi) / math.sqrt(1 - beta2 ** t) + eps)
    return step, {}


SETUPS = {'micrograd': micrograd_setup, 'drop-in': drop_in_setup, 'nn': nn_setup,
          'compiled': compiled_setup, 'torch': torch_setup,
          'compiled-threads': compiled_threads_setup, 'torch-threads': torch_threads_setup,
          'limit': limit_setup}


def tape_slots(sizes, batches):
    """The nodes of the compiled step's tape, or None without microgradc."""
    try:
        return compiled_setup(sizes, batches)[1]['slots']
    except ImportError:
        return None


def classifier(name, title, sizes, batches, step_metric, quick, not_run=None):
    """A Workload training MLP(sizes[0], sizes[1:]) on `batches` with every engine, but
    those in not_run ({engine: why}), whose cells say why."""
    min_seconds = QUICK_MIN_SECONDS if quick else MIN_SECONDS
    slots = tape_slots(sizes, batches)
    metrics = [step_metric, Metric('compile_s', 'compile (ms)', scale=1e3, ratios=False)]
    if slots:
        metrics.insert(1, Metric('ns_per_slot', f'step / {slots:,} tape slots (ns)', ratios=False))

    def measure(setup):
        threads = torch_default_threads if setup is torch_threads_setup else nullcontext

        def sample():
            with threads():
                return training_sample(lambda: setup(sizes, batches), min_seconds, slots)
        return sample

    def why(reason):
        return lambda: {step_metric.key: reason}
    not_run = not_run or {}
    return Workload(name, title, metrics,
                    {engine: why(not_run[engine]) if engine in not_run else measure(setup)
                     for engine, setup in SETUPS.items()})


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


def synthetic(name, title, sizes, batch, seed, quick, not_run=None):
    """A step of MLP(sizes[0], sizes[1:]) on synthetic minibatches of `batch` (uniform
    pixels, random labels); the title goes on with the batch size and the loss."""
    batch = QUICK_BATCH if quick else batch
    rng = np.random.default_rng(seed)
    batches = [(rng.random((batch, sizes[0])), rng.integers(0, sizes[-1], batch))
               for _ in range(MNIST_BATCHES)]
    return classifier(
        name, f"{title} on synthetic minibatches of {batch} (uniform pixels, random labels), "
              f"softmax cross-entropy, Adam",
        sizes, batches, Metric('step_s', 'step (ms)', scale=1e3, chart=True), quick, not_run)


def mnist(quick):
    """A step of an MNIST-shaped MLP on synthetic images."""
    return synthetic('mnist', "MNIST-shaped step: MLP(784, [50, 10])", [784, 50, 10], BATCH, 0,
                     quick)


def large(quick):
    """A step of MLP(784, [256, 128, 10]) on synthetic minibatches of 64."""
    return synthetic('large', "larger MLP step: MLP(784, [256, 128, 10])", [784, 256, 128, 10],
                     LARGE_BATCH, 1, quick, not_run={'micrograd': 'not run: ~10 min a step'})
