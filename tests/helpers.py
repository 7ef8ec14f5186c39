"""Shared helpers for the tests: nan-aware float comparison (of one float or of
sequences), finite differences, the memory and thread harnesses, and a small
classifier and its loss for the compiled-step tests."""
import ctypes
import gc
import math
import random
import threading

import numpy as np
import psutil

from microgradc import losses
from microgradc.engine import live_nodes
from microgradc.nn import MLP


def close(actual, expected, rel_tol=1e-12, abs_tol=0.0):
    """True when actual matches expected: nan matches nan, infinities must be
    equal exactly, finite numbers within rel_tol (or abs_tol)."""
    if math.isnan(actual) or math.isnan(expected):
        return math.isnan(actual) and math.isnan(expected)
    if math.isinf(actual) or math.isinf(expected):
        return actual == expected
    return math.isclose(actual, expected, rel_tol=rel_tol, abs_tol=abs_tol)


def central_difference(f, x, h=1e-6):
    """Slope of f at x from nudging x by h both ways: (f(x + h) - f(x - h)) / 2h."""
    return (f(x + h) - f(x - h)) / (2 * h)


def mismatches(actual, expected, rel_tol=1e-12, abs_tol=0.0):
    """The (index, actual, expected) triples where two equally long sequences of
    floats disagree by close(); an empty list when they all match. A length
    mismatch is reported as one triple with index 'len'."""
    actual, expected = list(actual), list(expected)
    if len(actual) != len(expected):
        return [("len", len(actual), len(expected))]
    return [(i, a, e) for i, (a, e) in enumerate(zip(actual, expected)) if not close(a, e, rel_tol, abs_tol)]


def settled_live_nodes():
    """live_nodes() once every unreachable facade is gone."""
    gc.collect()
    return live_nodes()


def memory_in_use():
    """Bytes the process holds: its RSS, or under AddressSanitizer (whose quarantine
    keeps freed blocks resident, so RSS grows anyway) the heap bytes it has allocated."""
    allocated = getattr(ctypes.CDLL(None), "__sanitizer_get_current_allocated_bytes", None)
    if allocated is None:
        return psutil.Process().memory_info().rss
    allocated.restype = ctypes.c_size_t
    return allocated()


def run_in_threads(work, count=8):
    """Start work(t) for t in range(count) together; return the exceptions raised."""
    errors = []
    start = threading.Barrier(count)

    def run(t):
        start.wait()
        try:
            work(t)
        except BaseException as error:  # noqa: BLE001 -- reported to the test thread
            errors.append((t, error))

    threads = [threading.Thread(target=run, args=(t,)) for t in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def readme_expression(a, b):
    """micrograd's README example (its test_engine's "more ops") from leaves a and b, of
    any Value-like type (micrograd's, ours, a torch tensor): c, d, e, f, g, g the root."""
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return c, d, e, f, g


def classifier(rows, nin=7, widths=(5, 3), seed=0):
    """A tanh MLP(nin, widths) and a batch of `rows` normal rows with one-hot targets."""
    random.seed(seed)
    model = MLP(nin, list(widths), activation='tanh')
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, nin))
    one_hot = np.eye(widths[-1])[rng.integers(0, widths[-1], rows)]
    return model, X, one_hot


def loss_of(model, reg):
    """softmax cross-entropy (plus reg * L2 of the parameters), the scores as extras."""
    def fn(images, targets):
        scores = [model(image) for image in images]
        loss = losses.softmax_cross_entropy(scores, targets)
        if reg:
            loss = loss + reg * losses.l2(model.parameters())
        return loss, scores
    return fn
