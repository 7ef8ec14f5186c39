"""Acceptance: micrograd's demo trains the same in microgradc as in micrograd.

micrograd's demo.ipynb (two moons, MLP(2, [16, 16, 1]), max-margin loss plus
L2, SGD with a decaying learning rate) is written once, in bench.moons, verbatim but for
the Value and MLP classes it is handed. Run with micrograd's classes and with
ours, every step's loss and accuracy must agree. The idiomatic microgradc loop
(losses.hinge + 1e-4 * losses.l2, optim.SGD) must follow the same trajectory.

CI-sized: STEPS steps of the full 100-point batch; micrograd's run is shared
by the tests.
"""
import gc

import micrograd.engine
import micrograd.nn
import pytest

import microgradc.engine
import microgradc.nn
from bench.moons import dataset, demo
from helpers import mismatches
from microgradc import losses, optim

STEPS = 10
REL = 1e-9


def micrograd_demo(Value, MLP, steps):
    """micrograd's demo.ipynb, cell by cell (bench.moons.demo holds it, verbatim);
    returns [(loss, accuracy)] one a step."""
    step, _ = demo(Value, MLP)
    return [step(k) for k in range(steps)]


def idiomatic_microgradc_demo(steps):
    """The same training written with microgradc's losses and optimizer."""
    X, y = dataset()
    model = microgradc.nn.MLP(2, [16, 16, 1])
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    trajectory = []
    for k in range(steps):
        scores = [model(xrow.tolist()) for xrow in X]
        total_loss = losses.hinge(scores, y.tolist()) + 1e-4 * losses.l2(model.parameters())
        accuracy = sum((yi > 0) == (score.data > 0) for yi, score in zip(y, scores)) / len(y)
        optimizer.zero_grad()
        total_loss.backward()
        optimizer.lr = 1.0 - 0.9 * k / 100
        optimizer.step()
        trajectory.append((total_loss.data, float(accuracy)))
    return trajectory


@pytest.fixture(scope="module")
def micrograd_trajectory():
    # micrograd's graphs are webs of reference cycles: the cyclic collector's passes over
    # them make its run ~5x slower. Paused, the garbage (~60 MB a step) waits for one
    # collection at the end; the numbers are the same either way.
    gc.disable()
    try:
        return micrograd_demo(micrograd.engine.Value, micrograd.nn.MLP, STEPS)
    finally:
        gc.enable()
        gc.collect()


def test_micrograd_reference_run_starts_as_the_demo_notebook_prints(micrograd_trajectory):
    # demo.ipynb's first line of output: "step 0 loss 0.8958441028683222, accuracy 50.0%"
    loss, accuracy = micrograd_trajectory[0]
    assert round(loss, 6) == 0.895844
    assert accuracy == 0.5


def test_micrograd_demo_verbatim_on_microgradc_has_micrograds_losses_and_accuracies(micrograd_trajectory):
    ours = micrograd_demo(microgradc.engine.Value, microgradc.nn.MLP, STEPS)
    assert not mismatches([loss for loss, _ in ours], [loss for loss, _ in micrograd_trajectory], REL)
    assert [acc for _, acc in ours] == [acc for _, acc in micrograd_trajectory]


def test_idiomatic_microgradc_training_has_micrograds_losses_and_accuracies(micrograd_trajectory):
    ours = idiomatic_microgradc_demo(STEPS)
    assert not mismatches([loss for loss, _ in ours], [loss for loss, _ in micrograd_trajectory], REL)
    assert [acc for _, acc in ours] == [acc for _, acc in micrograd_trajectory]
