"""micrograd's demo: a 2-layer MLP separates two interleaved half moons.

100 points from sklearn's make_moons, labels -1 and +1, MLP(2, [16, 16, 1]) (ReLU hidden
layers, linear output), max-margin (hinge) loss plus 1e-4 * L2, and 100 steps of plain
gradient descent with the learning rate decaying from 1.0 toward 0.1. Same seeds and same
numbers as micrograd's demo.ipynb: it reaches 100% training accuracy.

With --compiled the loss is traced once by microgradc.compile and each step replays it
in C: the same numbers, no Python per node.

    python -m examples.moons [--out DIR] [--quick] [--compiled]
"""
import random
import time

import numpy as np
from sklearn.datasets import make_moons

from examples.common import decision_boundary, parse_args, plt, progress, run_name, save
from microgradc import compile, losses, optim
from microgradc.nn import MLP


def dataset():
    """The demo's data: 100 points, noise 0.1, labels -1/+1, seeded as micrograd's notebook."""
    np.random.seed(1337)
    random.seed(1337)
    X, y = make_moons(n_samples=100, noise=0.1)
    return X, y * 2 - 1


def loss_and_accuracy(model, X, y):
    """The demo's loss (hinge + 1e-4 * L2 of the parameters) and the fraction classified right."""
    scores = [model(point) for point in X.tolist()]
    loss = losses.hinge(scores, y.tolist()) + 1e-4 * losses.l2(model.parameters())
    accuracy = np.mean([(score.data > 0) == (label > 0) for score, label in zip(scores, y)])
    return loss, accuracy


def compiled_loss_and_accuracy(model, X, y):
    """loss_and_accuracy's computation as a compiled step: traced here, replayed per call."""
    def loss_fn(points, labels):
        scores = [model(point) for point in points]
        return losses.hinge(scores, labels) + 1e-4 * losses.l2(model.parameters()), scores
    step = compile(loss_fn, X, y)

    def run(model, X, y):  # forward and backward in C; the grads land in the parameters
        loss, scores = step(X, y)
        return loss, np.mean((scores > 0) == (y > 0))
    return run


def train(steps=100, compiled=False):
    """Train the demo's model; returns it, the data and the (loss, accuracy) before every step."""
    X, y = dataset()
    model = MLP(2, [16, 16, 1])  # seeded above: micrograd's exact starting weights
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    step = compiled_loss_and_accuracy(model, X, y) if compiled else None
    history = []
    bar = progress(range(steps), desc='moons')
    for k in bar:
        optimizer.zero_grad()
        if step:
            loss, accuracy = step(model, X, y)
        else:
            loss, accuracy = loss_and_accuracy(model, X, y)
            loss.backward()
            loss = loss.data
        optimizer.lr = 1.0 - 0.9 * k / 100  # the demo's decay
        optimizer.step()
        history.append((loss, accuracy))
        bar.set_postfix(loss=f'{loss:.4f}', accuracy=f'{accuracy:.0%}')
    return model, X, y, history


def main():
    args = parse_args(__doc__.splitlines()[0], quick='10 steps instead of 100', compiled=True)
    start = time.perf_counter()
    model, X, y, history = train(steps=10 if args.quick else 100, compiled=args.compiled)
    seconds = time.perf_counter() - start

    figure, axes = plt.subplots(figsize=(6, 5))
    decision_boundary(axes, model, X, y, margin=1.0)
    axes.set_title(f'two moons: MLP(2, [16, 16, 1]) after {len(history)} steps')
    path = save(figure, args.out, f"{run_name('moons', args)}.png")

    loss, accuracy = history[-1]
    print(f'{len(history)} steps in {seconds:.2f} s: loss {loss:.4f}, '
          f'training accuracy {accuracy:.0%}')
    print(f'decision boundary: {path}')


if __name__ == '__main__':
    main()
