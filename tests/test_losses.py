"""microgradc.losses against torch.nn.functional in float64, micrograd's demo
loss and central finite differences.

Every loss is one fused node: its value and the gradients it sends to the
predictions (and to targets given as Values) must match torch's autograd of
the same loss, on random inputs and on extreme logits (|z| = 1000) where a
naive formula overflows.
"""
import math
import random

import micrograd.engine
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import central_difference, close, mismatches
from microgradc import Value, compile, dot, losses

REFERENCE = micrograd.engine.Value

# torch reduces in its own order (pairwise, vectorised); sums of a few terms
# agree to a few ulps, and grads that cancel to ~0 need a small absolute floor
REL, ABS = 1e-12, 1e-15


def float64(xs, requires_grad=False):
    return torch.tensor(xs, dtype=torch.float64, requires_grad=requires_grad)


def torch_loss_and_grads(torch_loss, preds, targets, targets_are_values):
    """torch_loss on float64 tensors: (loss, pred grads, target grads or None)."""
    p, t = float64(preds, True), float64(targets, targets_are_values)
    loss = torch_loss(p, t)
    loss.backward()
    return loss.item(), p.grad.tolist(), t.grad.tolist() if targets_are_values else None


def our_loss_and_grads(our_loss, preds, targets, targets_are_values):
    """our_loss on Values: (loss, pred grads, target grads or None)."""
    p = [Value(x) for x in preds]
    t = [Value(x) for x in targets] if targets_are_values else list(targets)
    loss = our_loss(p, t)
    assert isinstance(loss, Value)
    loss.backward()
    return loss.data, [v.grad for v in p], [v.grad for v in t] if targets_are_values else None


def assert_matches_torch(our_loss, torch_loss, preds, targets, targets_are_values):
    ours = our_loss_and_grads(our_loss, preds, targets, targets_are_values)
    expected = torch_loss_and_grads(torch_loss, preds, targets, targets_are_values)
    assert math.isfinite(ours[0]) and close(ours[0], expected[0], REL, ABS), (ours[0], expected[0])
    assert not mismatches(ours[1], expected[1], REL, ABS)
    if targets_are_values:
        assert not mismatches(ours[2], expected[2], REL, ABS)


def normal(seed, n, scale=1.0):
    rng = random.Random(seed)
    return [rng.gauss(0.0, scale) for _ in range(n)]


def signs(seed, n):
    rng = random.Random(seed)
    return [rng.choice([-1, 1]) for _ in range(n)]


# ---------------------------------------------------------------------------
# mse


@pytest.mark.parametrize("targets_are_values", [False, True], ids=["number-targets", "value-targets"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mse_matches_torch_mse_loss(seed, reduction, targets_are_values):
    assert_matches_torch(
        lambda p, t: losses.mse(p, t, reduction=reduction),
        lambda p, t: F.mse_loss(p, t, reduction=reduction),
        normal(seed, 9, 2.0),
        normal(seed + 100, 9),
        targets_are_values,
    )


def test_mse_default_reduction_is_mean():
    preds, targets = [Value(1.0), Value(-2.0)], [0.5, 1.0]
    assert losses.mse(preds, targets).data == losses.mse(preds, targets, reduction="mean").data
    assert close(losses.mse(preds, targets).data, (0.25 + 9.0) / 2)


def test_mse_sum_is_the_lectures_loss_with_its_grads():
    """The lecture: loss = sum((yout - ygt)**2 for ygt, yout in zip(ys, ypred))."""
    ys = [1.0, -1.0, -1.0, 1.0]
    data = [0.8, -0.3, 0.1, 1.7]
    ypred, ypred_unfused = [Value(x) for x in data], [Value(x) for x in data]
    loss = losses.mse(ypred, ys, reduction="sum")
    unfused = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred_unfused))
    loss.backward()
    unfused.backward()
    assert close(loss.data, unfused.data)
    assert not mismatches([v.grad for v in ypred], [v.grad for v in ypred_unfused])


def test_mse_grad_matches_central_differences():
    preds, targets = normal(3, 5), normal(4, 5)

    def loss_at(x):
        return losses.mse([Value(x)] + [Value(p) for p in preds[1:]], targets).data

    first = Value(preds[0])
    losses.mse([first] + [Value(p) for p in preds[1:]], targets).backward()
    assert close(first.grad, central_difference(loss_at, preds[0]), rel_tol=1e-7, abs_tol=1e-9)


# ---------------------------------------------------------------------------
# hinge


def torch_hinge(scores, ys):
    return torch.relu(1 - ys * scores).mean()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hinge_with_plus_minus_one_labels_matches_a_torch_composition(seed):
    assert_matches_torch(losses.hinge, torch_hinge, normal(seed, 12, 1.5), signs(seed, 12), False)


@pytest.mark.parametrize("seed", [0, 1])
def test_hinge_grads_reach_labels_given_as_values_like_torch(seed):
    labels = [float(y) for y in signs(seed, 10)]
    assert_matches_torch(losses.hinge, torch_hinge, normal(seed, 10, 1.5), labels, True)


def test_hinge_at_margin_exactly_one_passes_no_gradient_like_torch_relu():
    # 1 - y*s == 0 exactly for the first two pairs; torch's relu has grad 0 at 0
    assert_matches_torch(losses.hinge, torch_hinge, [1.0, -1.0, 0.25, -3.0], [1, -1, 1, 1], True)


@pytest.mark.parametrize("seed", [0, 1, 1337])
def test_hinge_equals_micrograds_demo_loss_and_its_grads(seed):
    """micrograd's demo: losses = [(1 + -yi*scorei).relu() ...]; sum(losses) * (1.0 / len(losses))."""
    data, ys = normal(seed, 100, 1.5), signs(seed, 100)
    scores, reference_scores = [Value(x) for x in data], [REFERENCE(x) for x in data]
    loss = losses.hinge(scores, ys)
    reference_losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(ys, reference_scores)]
    reference = sum(reference_losses) * (1.0 / len(reference_losses))
    assert loss.data == reference.data
    loss.backward()
    reference.backward()
    assert not mismatches([v.grad for v in scores], [v.grad for v in reference_scores])


def test_hinge_grad_matches_central_differences():
    scores, ys = [0.3, -0.4, 2.5, 0.9], [1, 1, -1, -1]

    def loss_at(x):
        return losses.hinge([Value(x)] + [Value(s) for s in scores[1:]], ys).data

    first = Value(scores[0])
    losses.hinge([first] + [Value(s) for s in scores[1:]], ys).backward()
    assert close(first.grad, central_difference(loss_at, scores[0]), rel_tol=1e-7, abs_tol=1e-9)


@pytest.mark.parametrize("labels", [
    [0, 1, 1, 0],                                # sklearn's labels
    [0.0, 1.0, 1.0, 0.0],
    np.array([0, 1, 1, 0]),
    [Value(0.0), Value(1.0), Value(1.0), Value(0.0)],
    [1, -1, 2, -1],
    [1, -1, math.nan, -1],
    [1, -1, 0.5, -1],
], ids=["ints", "floats", "numpy", "values", "two", "nan", "half"])
def test_hinge_with_labels_other_than_plus_minus_one_raises_value_error_asking_for_them(labels):
    scores = [Value(0.5), Value(-1.0), Value(2.0), Value(0.25)]
    with pytest.raises(ValueError, match=r"hinge needs labels -1 and \+1"):
        losses.hinge(scores, labels)


def test_hinge_takes_plus_minus_one_labels_as_ints_floats_numpy_values_and_a_generator():
    scores = [Value(0.5), Value(-1.0), Value(2.0)]
    expected = losses.hinge(scores, [1, -1, -1]).data
    for labels in ([1.0, -1.0, -1.0], np.array([1, -1, -1]), np.array([1.0, -1.0, -1.0]),
                   [Value(1.0), Value(-1.0), Value(-1.0)], (y for y in [1, -1, -1])):
        assert losses.hinge(scores, labels).data == expected


def test_compiled_hinge_refuses_zero_one_labels_when_traced():
    w = [Value(0.5), Value(-1.0)]
    X = np.array([[1.0, 2.0], [0.5, -1.0]])
    with pytest.raises(ValueError, match=r"hinge needs labels -1 and \+1"):
        compile(lambda rows, ys: losses.hinge([dot(w, row) for row in rows], ys), X, np.array([0, 1]))


def test_compiled_hinge_reads_each_calls_labels_like_the_eager_loss():
    w = [Value(0.5), Value(-1.0)]
    X = np.array([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.25]])

    def loss_fn(rows, ys):
        return losses.hinge([dot(w, row) for row in rows], ys)

    step = compile(loss_fn, X, np.array([1.0, -1.0, 1.0]))
    for labels in ([1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]):
        compiled_loss = step(X, np.array(labels))
        compiled_grads = [p.grad for p in w]
        for p in w:
            p.grad = 0.0
        eager_loss = loss_fn([[Value(x) for x in row] for row in X.tolist()], labels)
        eager_loss.backward()
        assert compiled_loss == eager_loss.data
        assert compiled_grads == [p.grad for p in w]
        for p in w:
            p.grad = 0.0


# ---------------------------------------------------------------------------
# l2


@pytest.mark.parametrize("seed", [0, 1])
def test_l2_matches_torch_sum_of_squares(seed):
    data = normal(seed, 20, 3.0)
    params = [Value(x) for x in data]
    loss = losses.l2(params)
    loss.backward()
    t = float64(data, True)
    expected = (t * t).sum()
    expected.backward()
    assert close(loss.data, expected.item(), REL)
    assert [p.grad for p in params] == t.grad.tolist()  # 2 * p, exact


def test_l2_scaled_as_in_micrograds_demo_matches_its_unfused_sum():
    data = normal(5, 30)
    params, reference = [Value(x) for x in data], [REFERENCE(x) for x in data]
    loss = 1e-4 * losses.l2(params)
    expected = 1e-4 * sum((p * p for p in reference))
    loss.backward()
    expected.backward()
    assert close(loss.data, expected.data, REL)
    assert not mismatches([p.grad for p in params], [p.grad for p in reference])


def test_l2_grad_matches_central_differences():
    data = [0.7, -1.2, 2.0]

    def loss_at(x):
        return losses.l2([Value(x), Value(data[1]), Value(data[2])]).data

    first = Value(data[0])
    losses.l2([first, Value(data[1]), Value(data[2])]).backward()
    assert close(first.grad, central_difference(loss_at, data[0]), rel_tol=1e-7)


# ---------------------------------------------------------------------------
# binary cross-entropy from logits


@pytest.mark.parametrize("targets_are_values", [False, True], ids=["number-targets", "value-targets"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_cross_entropy_matches_torch_with_logits(seed, targets_are_values):
    rng = random.Random(seed)
    targets = [rng.choice([0, 1, 0.25, 0.8]) for _ in range(11)]
    if targets_are_values:
        targets = [float(t) for t in targets]
    logits = normal(seed, 11, 3.0)
    assert_matches_torch(
        losses.binary_cross_entropy, F.binary_cross_entropy_with_logits, logits, targets, targets_are_values
    )


@pytest.mark.parametrize("targets_are_values", [False, True], ids=["number-targets", "value-targets"])
def test_binary_cross_entropy_at_logits_of_plus_minus_1000_is_finite_and_matches_torch(targets_are_values):
    logits = [1000.0, -1000.0, 1000.0, -1000.0, 1000.0, -1000.0, 0.0]
    targets = [1.0, 0.0, 0.0, 1.0, 0.5, 0.3, 1.0]
    ours = our_loss_and_grads(losses.binary_cross_entropy, logits, targets, targets_are_values)
    assert all(math.isfinite(x) for x in [ours[0], *ours[1], *(ours[2] or [])])
    assert_matches_torch(
        losses.binary_cross_entropy, F.binary_cross_entropy_with_logits, logits, targets, targets_are_values
    )


def test_binary_cross_entropy_of_confidently_wrong_logits_is_the_hand_derived_margin():
    # z = 1000 with target 0 costs log(1 + e^1000) = 1000 (to double precision);
    # z = -1000 with target 1 the same
    loss = losses.binary_cross_entropy([Value(1000.0), Value(-1000.0)], [0, 1])
    assert loss.data == 1000.0


def test_binary_cross_entropy_grad_matches_central_differences():
    logits, targets = [0.4, -1.3, 2.2], [1, 0, 0.3]

    def loss_at(x):
        return losses.binary_cross_entropy([Value(x), Value(logits[1]), Value(logits[2])], targets).data

    first = Value(logits[0])
    losses.binary_cross_entropy([first, Value(logits[1]), Value(logits[2])], targets).backward()
    assert close(first.grad, central_difference(loss_at, logits[0]), rel_tol=1e-7, abs_tol=1e-9)


# ---------------------------------------------------------------------------
# softmax cross-entropy


def softmax_cross_entropy_and_grads(rows, targets):
    """Ours on Value rows: (loss, grads as rows)."""
    value_rows = [[Value(z) for z in row] for row in rows]
    loss = losses.softmax_cross_entropy(value_rows, targets)
    assert isinstance(loss, Value)
    loss.backward()
    return loss.data, [[v.grad for v in row] for row in value_rows]


def torch_cross_entropy_and_grads(rows, targets):
    z = float64(rows, True)
    loss = F.cross_entropy(z, torch.tensor(targets, dtype=torch.long))
    loss.backward()
    return loss.item(), z.grad.tolist()


def assert_cross_entropy_matches_torch(rows, targets):
    loss, grads = softmax_cross_entropy_and_grads(rows, targets)
    expected_loss, expected_grads = torch_cross_entropy_and_grads(rows, targets)
    assert math.isfinite(loss) and close(loss, expected_loss, REL, ABS), (loss, expected_loss)
    for row, expected_row in zip(grads, expected_grads):
        assert all(math.isfinite(g) for g in row)
        assert not mismatches(row, expected_row, REL, ABS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_cross_entropy_matches_torch_cross_entropy(seed):
    rng = random.Random(seed)
    rows = [normal(seed * 10 + i, 5, 2.0) for i in range(6)]
    targets = [rng.randrange(5) for _ in rows]
    assert_cross_entropy_matches_torch(rows, targets)


@pytest.mark.parametrize("seed", [0, 1])
def test_softmax_cross_entropy_with_probability_targets_matches_torch_with_their_grads(seed):
    rng = random.Random(seed)
    rows = [normal(seed * 10 + i, 4, 2.0) for i in range(5)]
    probabilities = []
    for _ in rows:
        weights = [rng.random() for _ in range(4)]
        probabilities.append([w / sum(weights) for w in weights])
    probabilities[0] = [0.0, 1.0, 0.0, 0.0]  # one-hot, as a compiled loss feeds labels
    probabilities[1][2] *= 1000.0  # logits of 1000 scale: still finite
    rows[1] = [1000.0 * z for z in rows[1]]
    value_rows = [[Value(z) for z in row] for row in rows]
    value_targets = [[Value(p) for p in row] for row in probabilities]
    loss = losses.softmax_cross_entropy(value_rows, value_targets)
    loss.backward()
    z, t = float64(rows, True), float64(probabilities, True)
    expected = F.cross_entropy(z, t)
    expected.backward()
    assert close(loss.data, expected.item(), REL, ABS), (loss.data, expected.item())
    for ours, theirs in ((value_rows, z.grad), (value_targets, t.grad)):
        for row, expected_row in zip(ours, theirs.tolist()):
            assert not mismatches([v.grad for v in row], expected_row, REL, ABS)


def test_softmax_cross_entropy_at_logits_of_1000_is_finite_and_matches_torch():
    rows = [
        [1000.0, 0.0, -1000.0],
        [-1000.0, 1000.0, 0.0],
        [1000.0, 1000.0, 1000.0],
        [-1000.0, -1000.0, 999.0],
    ]
    targets = [0, 2, 1, 0]
    assert_cross_entropy_matches_torch(rows, targets)


def test_softmax_cross_entropy_with_numbers_among_the_logits_matches_torch():
    rows = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
    targets = [2, 0]
    fixed = Value(2.0)
    value_rows = [[Value(0.5), -1.0, fixed], [1.5, Value(0.25), -0.75]]
    loss = losses.softmax_cross_entropy(value_rows, targets)
    loss.backward()
    expected_loss, expected_grads = torch_cross_entropy_and_grads(rows, targets)
    assert close(loss.data, expected_loss, REL)
    assert not mismatches(
        [value_rows[0][0].grad, fixed.grad, value_rows[1][1].grad],
        [expected_grads[0][0], expected_grads[0][2], expected_grads[1][1]],
        REL,
        ABS,
    )


def test_softmax_cross_entropy_grad_matches_central_differences():
    rows, targets = [[0.2, -0.5, 1.1], [0.0, 0.3, -0.8]], [1, 2]

    def loss_at(x):
        return losses.softmax_cross_entropy([[Value(x), *rows[0][1:]], rows[1]], targets).data

    first = Value(rows[0][0])
    losses.softmax_cross_entropy([[first, *rows[0][1:]], rows[1]], targets).backward()
    assert close(first.grad, central_difference(loss_at, rows[0][0]), rel_tol=1e-7, abs_tol=1e-9)


# ---------------------------------------------------------------------------
# one fused node


@pytest.mark.parametrize(
    "make_loss",
    [
        lambda p: losses.mse(p, [1.0, 2.0, 3.0]),
        lambda p: losses.hinge(p, [1, -1, 1]),
        lambda p: losses.l2(p),
        lambda p: losses.binary_cross_entropy(p, [1, 0, 1]),
        lambda p: losses.softmax_cross_entropy([p], [2]),
    ],
    ids=["mse", "hinge", "l2", "binary_cross_entropy", "softmax_cross_entropy"],
)
def test_each_loss_is_one_node_whose_children_are_leaves(make_loss):
    preds = [Value(0.5), Value(-1.0), Value(2.0)]
    loss = make_loss(preds)
    assert set(preds) <= loss._prev
    assert all(child._op == "" for child in loss._prev)


# ---------------------------------------------------------------------------
# bad input

TWO = [Value(1.0), Value(2.0)]


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.mse(TWO, [1.0]),
        lambda: losses.mse(TWO, [1.0, 2.0, 3.0], reduction="sum"),
        lambda: losses.hinge(TWO, [1]),
        lambda: losses.binary_cross_entropy(TWO, [1, 0, 1]),
        lambda: losses.softmax_cross_entropy([TWO, TWO], [0]),
        lambda: losses.softmax_cross_entropy([TWO], [0, 1]),
        lambda: losses.softmax_cross_entropy([TWO, [Value(1.0)]], [0, 0]),
    ],
    ids=["mse", "mse-sum", "hinge", "bce", "ce-fewer-targets", "ce-more-targets", "ce-ragged-rows"],
)
def test_mismatched_lengths_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("index", [2, 3, -1])
def test_softmax_cross_entropy_with_a_class_index_out_of_range_raises_value_error(index):
    with pytest.raises(ValueError):
        losses.softmax_cross_entropy([TWO, TWO], [0, index])


@pytest.mark.parametrize("reduction", ["avg", "none", None])
def test_mse_with_an_unknown_reduction_raises_value_error(reduction):
    with pytest.raises(ValueError):
        losses.mse(TWO, [1.0, 2.0], reduction=reduction)


@pytest.mark.parametrize(
    "call",
    [
        lambda: losses.mse([Value(1.0), "x"], [1.0, 2.0]),
        lambda: losses.mse(TWO, [1.0, None]),
        lambda: losses.hinge(TWO, ["1", 1]),
        lambda: losses.l2([Value(1.0), "p"]),
        lambda: losses.binary_cross_entropy([Value(1.0), [2.0]], [1, 0]),
        lambda: losses.softmax_cross_entropy([[Value(1.0), "z"]], [0]),
    ],
    ids=["mse-pred", "mse-target", "hinge-label", "l2-param", "bce-logit", "ce-logit"],
)
def test_a_non_number_raises_type_error(call):
    with pytest.raises(TypeError):
        call()
