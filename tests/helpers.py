"""Shared helpers for the tests: nan-aware float comparison (of one float or of sequences) and finite differences."""
import math


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
