"""microgradc.optim against torch.optim in float64.

The same parameters get the same gradients in both libraries, step after
step; after every step each parameter must agree with torch's to 1e-12
(relative). Gradients come either from a fixed closed form of the step number
(identical floats fed to both) or from the same loss backpropagated in each.
"""
import math
import random

import pytest
import torch

from helpers import mismatches
from microgradc import Value
from microgradc.optim import SGD, Adam

STEPS = 10
# parameters are O(1); the floor only matters where one passes through zero
REL, ABS = 1e-12, 1e-14


def start(seed, n=12):
    rng = random.Random(seed)
    return [rng.uniform(-2, 2) for _ in range(n)]


def closed_form_grad(step, i):
    """A gradient that depends only on the step and the index: signs change, magnitudes
    span 1e-2 .. 1e2, and the last parameter never gets a gradient (stays put)."""
    if i == 11:
        return 0.0
    return math.sin(1.3 * step + 0.7 * i) * 10.0 ** (i % 5 - 2)


def run_with_closed_form_grads(make_ours, make_torch, settings, lr_schedule=None):
    """Both optimizers over the same start, fed the same closed-form grads each step.
    Returns the step numbers where the parameters disagree."""
    data = start(0)
    params = [Value(x) for x in data]
    tensor = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    ours, theirs = make_ours(params, **settings), make_torch([tensor], **settings)
    disagreements = []
    for step in range(STEPS):
        if lr_schedule is not None:
            ours.lr = lr_schedule(step)
            theirs.param_groups[0]["lr"] = lr_schedule(step)
        grads = [closed_form_grad(step, i) for i in range(len(params))]
        for p, g in zip(params, grads):
            p.grad = g
        tensor.grad = torch.tensor(grads, dtype=torch.float64)
        ours.step()
        theirs.step()
        wrong = mismatches([p.data for p in params], tensor.tolist(), REL, ABS)
        if wrong:
            disagreements.append((step, wrong))
    assert [p.data for p in params] != data  # the optimizer moved them
    return disagreements


def decaying_lr(step):
    return 1.0 - 0.9 * step / 100


SGD_SETTINGS = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.05, momentum=0.9),
    "weight-decay": dict(lr=0.1, weight_decay=0.01),
    "momentum-and-weight-decay": dict(lr=0.05, momentum=0.8, weight_decay=0.05),
}
ADAM_SETTINGS = {
    "defaults": dict(),
    "lr": dict(lr=0.05),
    "weight-decay": dict(lr=0.01, weight_decay=0.1),
    "custom-betas-and-eps": dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3),
    "everything": dict(lr=0.03, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.02),
}


@pytest.mark.parametrize("settings", SGD_SETTINGS.values(), ids=SGD_SETTINGS.keys())
def test_sgd_matches_torch_sgd_over_ten_steps(settings):
    assert not run_with_closed_form_grads(SGD, torch.optim.SGD, settings)


@pytest.mark.parametrize("settings", SGD_SETTINGS.values(), ids=SGD_SETTINGS.keys())
def test_sgd_with_lr_changed_between_steps_matches_torch_sgd(settings):
    assert not run_with_closed_form_grads(SGD, torch.optim.SGD, settings, lr_schedule=decaying_lr)


@pytest.mark.parametrize("settings", ADAM_SETTINGS.values(), ids=ADAM_SETTINGS.keys())
def test_adam_matches_torch_adam_over_ten_steps(settings):
    assert not run_with_closed_form_grads(Adam, torch.optim.Adam, settings)


def test_adam_with_lr_changed_between_steps_matches_torch_adam():
    assert not run_with_closed_form_grads(
        Adam, torch.optim.Adam, dict(lr=0.1), lr_schedule=lambda step: 0.1 / (step + 1)
    )


def test_plain_sgd_step_is_micrograds_update():
    """micrograd's loop: p.data -= learning_rate * p.grad."""
    data = start(3)
    params, expected = [Value(x) for x in data], list(data)
    optimizer = SGD(params, lr=0.37)
    for step in range(3):
        for i, p in enumerate(params):
            p.grad = closed_form_grad(step, i)
            expected[i] -= 0.37 * closed_form_grad(step, i)
        optimizer.step()
    assert not mismatches([p.data for p in params], expected, REL)


# ---------------------------------------------------------------------------
# gradients from the same loss, backpropagated in each library


def quartic_loss(params, targets, weights):
    """sum of w * (p - t)**2 + 0.1 * p**4: a non-quadratic bowl, built from ops both libraries share."""
    return sum(w * (p - t) ** 2 + 0.1 * p**4 for p, t, w in zip(params, targets, weights))


@pytest.mark.parametrize(
    "make_ours, make_torch, settings",
    [
        (SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.9, weight_decay=0.01)),
        (Adam, torch.optim.Adam, dict(lr=0.05, weight_decay=0.01)),
    ],
    ids=["sgd", "adam"],
)
def test_optimizer_minimising_a_loss_follows_torchs_trajectory(make_ours, make_torch, settings):
    data, targets = start(7, 6), start(8, 6)
    weights = [0.5, 1.0, 2.0, 3.0, 0.25, 1.5]
    params = [Value(x) for x in data]
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in data]
    ours, theirs = make_ours(params, **settings), make_torch(tensors, **settings)
    losses = []
    for step in range(STEPS):
        ours.zero_grad()
        theirs.zero_grad()
        loss, torch_loss = quartic_loss(params, targets, weights), quartic_loss(tensors, targets, weights)
        loss.backward()
        torch_loss.backward()
        ours.step()
        theirs.step()
        losses.append(loss.data)
        assert not mismatches([loss.data], [torch_loss.item()], REL), step
        assert not mismatches([p.data for p in params], [t.item() for t in tensors], REL, ABS), step
    assert losses[-1] < losses[0]


# ---------------------------------------------------------------------------
# zero_grad


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: Adam(ps)], ids=["sgd", "adam"])
def test_optimizer_zero_grad_zeroes_every_parameter_grad(make):
    params = [Value(x) for x in start(1, 5)]
    sum(p * p for p in params).backward()
    assert all(p.grad != 0.0 for p in params)
    make(params).zero_grad()
    assert [p.grad for p in params] == [0.0] * 5


def test_optimizer_zero_grad_between_backward_calls_stops_grads_accumulating():
    params = [Value(1.5), Value(-0.5)]
    optimizer = SGD(params, lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        (params[0] * params[1]).backward()
        assert [p.grad for p in params] == [params[1].data, params[0].data]
        optimizer.step()


# ---------------------------------------------------------------------------
# bad input, as torch.optim rejects it


@pytest.mark.parametrize(
    "settings",
    [dict(lr=-0.1), dict(lr=0.1, momentum=-0.5), dict(lr=0.1, weight_decay=-1.0)],
    ids=["negative-lr", "negative-momentum", "negative-weight-decay"],
)
def test_sgd_with_bad_hyperparameters_raises_value_error_like_torch(settings):
    with pytest.raises(ValueError):
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], **settings)
    with pytest.raises(ValueError):
        SGD([Value(1.0)], **settings)


@pytest.mark.parametrize(
    "settings",
    [
        dict(lr=-0.1),
        dict(eps=-1e-8),
        dict(weight_decay=-0.1),
        dict(betas=(1.0, 0.999)),
        dict(betas=(0.9, 1.0)),
        dict(betas=(-0.1, 0.999)),
        dict(betas=(0.9, -0.5)),
    ],
    ids=[
        "negative-lr",
        "negative-eps",
        "negative-weight-decay",
        "beta1-one",
        "beta2-one",
        "negative-beta1",
        "negative-beta2",
    ],
)
def test_adam_with_bad_hyperparameters_raises_value_error_like_torch(settings):
    with pytest.raises(ValueError):
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], **settings)
    with pytest.raises(ValueError):
        Adam([Value(1.0)], **settings)


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: Adam(ps)], ids=["sgd", "adam"])
def test_an_empty_parameter_list_raises_value_error(make):
    with pytest.raises(ValueError):
        make([])


@pytest.mark.parametrize("make", [lambda ps: SGD(ps, lr=0.1), lambda ps: Adam(ps)], ids=["sgd", "adam"])
@pytest.mark.parametrize("intruder", [1.0, "p", None], ids=["float", "str", "None"])
def test_a_non_value_among_the_parameters_raises_type_error(make, intruder):
    with pytest.raises(TypeError):
        make([Value(1.0), intruder])


def test_zero_lr_is_allowed_and_leaves_parameters_unchanged():
    params = [Value(1.0), Value(-2.0)]
    for p in params:
        p.grad = 3.0
    SGD(params, lr=0.0).step()
    Adam(params, lr=0.0).step()
    assert [p.data for p in params] == [1.0, -2.0]
