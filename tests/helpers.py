"""Shared helpers for the engine tests: nan-aware float comparison and finite differences."""
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
