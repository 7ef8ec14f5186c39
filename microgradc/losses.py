"""Losses, each one fused node built by one C call, returning one Value.

Predictions are Values; targets may be Values or real numbers. Gradients flow to
every Value among them, as through the unfused graph.
"""
import numbers

from ._core import lib
from .engine import Value, _node, _Operands


def _pair_loss(op, what, a, b, mean=False):
    with _Operands((a, "a prediction"), (b, "a target")) as (a_ids, b_ids):
        if len(a_ids) != len(b_ids):
            raise ValueError(f"{what} needs equal lengths, got {len(a_ids)} and {len(b_ids)}")
        if not a_ids:
            raise ValueError(f"{what} of nothing")
        return _node(lib.mgc_pair_loss(op, a_ids, b_ids, len(a_ids), mean))


def mse(preds, targets, reduction='mean'):
    """Mean (or, with reduction='sum', the lecture's sum) of (pred - target)**2."""
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
    return _pair_loss(lib.MGC_MSE, "mse", preds, targets, reduction == 'mean')


def hinge(scores, ys):
    """Mean of relu(1 - y*s): micrograd's demo loss, bit for bit.

    ys are labels -1 and +1 (numbers, or Values whose data is -1 or +1 when the loss is
    built; a compiled step checks the labels it is traced with). Raises ValueError for
    any other label, such as sklearn's 0/1 (pass 2 * y - 1), with which the loss would
    train nothing useful.
    """
    ys = list(ys)
    _check_plus_minus_one(ys)
    return _pair_loss(lib.MGC_HINGE, "hinge", scores, ys)


_PLUS_MINUS_ONE = frozenset((-1, 1))


def _check_plus_minus_one(ys):
    """Raise ValueError, naming it, for a label that is not -1 or +1 (a Value's data, now)."""
    try:
        if _PLUS_MINUS_ONE.issuperset(ys):  # numbers -1 and +1 only: one set lookup each
            return
    except TypeError:  # an unhashable label, which _Operands refuses, naming its type
        return
    for i, y in enumerate(ys):
        # read from the core, not .data: a check, not a decision a trace would freeze
        label = lib.mgc_data(y._id) if isinstance(y, Value) else y
        if isinstance(label, numbers.Real) and label not in (-1, 1):
            raise ValueError(f"hinge needs labels -1 and +1, got {label} at index {i} "
                             f"(for 0/1 labels, pass 2 * y - 1)")


def binary_cross_entropy(logits, targets):
    """Mean binary cross-entropy from logits, stable for any |z| (as PyTorch's _with_logits)."""
    return _pair_loss(lib.MGC_BCE, "binary_cross_entropy", logits, targets)


def l2(params):
    """Sum of p*p, for weight decay as micrograd's demo adds it (1e-4 * l2(params)).
    The sum of nothing is a new Value(0.0), as Python's sum() of no terms is 0."""
    with _Operands((params, "a parameter")) as (ids,):
        if not ids:
            return Value(0.0)
        return _node(lib.mgc_l2(ids, len(ids)))


def softmax_cross_entropy(logits, targets):
    """Mean over rows of the cross-entropy of softmax(row) and its target, stable for large
    logits (as torch.nn.functional.cross_entropy).

    logits: a list of rows, each a list of Values or numbers, all of one length. targets:
    one class index (an int in [0, row length)) a row; or one row of class probabilities
    (Values or numbers) a row, as a compiled loss takes labels that change every call.
    """
    rows, targets = [list(row) for row in logits], list(targets)
    if not rows or len(rows) != len(targets):
        raise ValueError(f"softmax_cross_entropy needs one target a row, got {len(rows)} rows "
                         f"and {len(targets)} targets")
    classes = len(rows[0])
    if classes == 0 or any(len(row) != classes for row in rows):
        raise ValueError("softmax_cross_entropy needs rows of one nonzero length")
    logits = [z for row in rows for z in row]
    if all(_is_row(t) for t in targets):
        probabilities = [list(t) for t in targets]
        if any(len(t) != classes for t in probabilities):
            raise ValueError(f"probability targets need rows of {classes}, as the logits")
        with _Operands((logits, "a logit"), ([p for t in probabilities for p in t],
                                             "a probability")) as (z_ids, p_ids):
            return _node(lib.mgc_softmax_ce_probs(z_ids, p_ids, len(rows), classes))
    indices = _class_indices(targets, classes)
    with _Operands((logits, "a logit")) as (z_ids,):
        return _node(lib.mgc_softmax_ce(z_ids, len(rows), classes, indices))


def _is_row(target):
    """Whether a target is a row of class probabilities: a list, tuple or 1-d array."""
    return isinstance(target, (list, tuple)) or getattr(target, 'ndim', 0) == 1


def _class_indices(targets, classes):
    for t in targets:
        if isinstance(t, bool) or not hasattr(t, '__index__') or getattr(t, 'ndim', 0) != 0:
            raise TypeError(f"a target must be a class index or a row of probabilities, "
                            f"not {type(t).__name__}")
        if not 0 <= t < classes:
            raise ValueError(f"target {t} is not a class index in [0, {classes})")
    return [int(t) for t in targets]
