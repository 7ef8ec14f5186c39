"""Losses, each one fused node built by one C call, returning one Value.

Predictions are Values; targets may be Values or real numbers. Gradients flow to
every Value among them, as through the unfused graph.
"""
from ._core import lib
from .engine import _ids, _node, _release


def _pair_loss(op, what, a, b, mean=False):
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"{what} needs equal lengths, got {len(a)} and {len(b)}")
    if not a:
        raise ValueError(f"{what} of nothing")
    a_ids, a_made = _ids(a, "a prediction")
    b_ids, b_made = _ids(b, "a target")
    try:
        return _node(lib.mgc_pair_loss(op, a_ids, b_ids, len(a), mean))
    finally:
        _release(a_made)
        _release(b_made)


def mse(preds, targets, reduction='mean'):
    """Mean (or, with reduction='sum', the lecture's sum) of (pred - target)**2."""
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")
    return _pair_loss(lib.MGC_MSE, "mse", preds, targets, reduction == 'mean')


def hinge(scores, ys):
    """Mean of relu(1 - y*s): micrograd's demo loss, bit for bit. ys are +-1 labels."""
    return _pair_loss(lib.MGC_HINGE, "hinge", scores, ys)


def binary_cross_entropy(logits, targets):
    """Mean binary cross-entropy from logits, stable for any |z| (as PyTorch's _with_logits)."""
    return _pair_loss(lib.MGC_BCE, "binary_cross_entropy", logits, targets)


def l2(params):
    """Sum of p*p, for weight decay as micrograd's demo adds it (1e-4 * l2(params))."""
    ids, made = _ids(list(params), "a parameter")
    try:
        return _node(lib.mgc_l2(ids, len(ids)))
    finally:
        _release(made)


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
    ids, made = _ids([z for row in rows for z in row], "a logit")
    try:
        if all(isinstance(t, (list, tuple)) for t in targets):
            return _node(_probability_targets(ids, targets, classes))
        return _node(lib.mgc_softmax_ce(ids, len(rows), classes, _class_indices(targets, classes)))
    finally:
        _release(made)


def _class_indices(targets, classes):
    for t in targets:
        if isinstance(t, bool) or not hasattr(t, '__index__'):
            raise TypeError(f"a target must be a class index or a row of probabilities, "
                            f"not {type(t).__name__}")
        if not 0 <= t < classes:
            raise ValueError(f"target {t} is not a class index in [0, {classes})")
    return [int(t) for t in targets]


def _probability_targets(logit_ids, targets, classes):
    if any(len(t) != classes for t in targets):
        raise ValueError(f"probability targets need rows of {classes}, as the logits")
    ids, made = _ids([p for row in targets for p in row], "a probability")
    try:
        return lib.mgc_softmax_ce_probs(logit_ids, ids, len(targets), classes)
    finally:
        _release(made)
