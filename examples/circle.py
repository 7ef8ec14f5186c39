"""Is a point inside the unit circle? How many tanh neurons does it take to say.

200 points uniform in the square [-1.5, 1.5]^2, labelled +1 inside the unit circle and -1
outside; MLP(2, [h, 1]) with tanh on both layers for h = 1, 2, 3 and 9 hidden neurons; mean
squared error; 1,000 epochs of full-batch gradient descent (lr 0.3), a second or two each.
One neuron can only draw a line (the best one here leaves every point outside), two a band,
three a crude circle, nine a good one.

    python -m examples.circle [--out DIR] [--quick]
"""
import random
import time

import numpy as np

from examples.common import decision_boundary, parse_args, plt, progress, save
from microgradc import losses, optim
from microgradc.nn import MLP

HIDDEN = (1, 2, 3, 9)


def dataset(n=200, seed=0):
    """n points uniform in [-1.5, 1.5]^2 and their labels: +1 inside the unit circle, -1 outside."""
    X = np.random.default_rng(seed).uniform(-1.5, 1.5, size=(n, 2))
    y = np.where((X ** 2).sum(axis=1) < 1.0, 1.0, -1.0)
    return X, y


def train(hidden, X, y, epochs, lr=0.3, seed=0):
    """A tanh MLP(2, [hidden, 1]) trained on (X, y); returns it and (loss, accuracy) per epoch."""
    random.seed(seed)
    model = MLP(2, [hidden, 1], activation='tanh', output_activation='tanh')
    optimizer = optim.SGD(model.parameters(), lr=lr)
    points, labels = X.tolist(), y.tolist()
    history = []
    for _ in progress(range(epochs), desc=f'{hidden} hidden', leave=False):
        outputs = [model(point) for point in points]
        loss = losses.mse(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        accuracy = np.mean([(out.data > 0) == (label > 0) for out, label in zip(outputs, labels)])
        history.append((loss.data, accuracy))
    return model, history


def main():
    args = parse_args(__doc__.splitlines()[0], quick='20 epochs instead of 1000')
    epochs = 20 if args.quick else 1000
    X, y = dataset()
    boundaries, axes = plt.subplots(1, len(HIDDEN), figsize=(4 * len(HIDDEN), 4))
    curves, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    for hidden, panel in zip(HIDDEN, axes):
        start = time.perf_counter()
        model, history = train(hidden, X, y, epochs)
        seconds = time.perf_counter() - start
        loss, accuracy = history[-1]
        print(f'{hidden} hidden: loss {loss:.4f}, accuracy {accuracy:.1%} ({seconds:.1f} s)')

        decision_boundary(panel, model, X, y, margin=0.1)
        panel.add_patch(plt.Circle((0, 0), 1.0, fill=False, linestyle='--'))
        panel.set_aspect('equal')
        panel.set_title(f'{hidden} hidden: accuracy {accuracy:.1%}')
        loss_axes.plot([loss for loss, _ in history], label=f'{hidden} hidden')
        accuracy_axes.plot([accuracy for _, accuracy in history], label=f'{hidden} hidden')

    loss_axes.set(xlabel='epoch', ylabel='mean squared error', title='loss')
    accuracy_axes.set(xlabel='epoch', ylabel='training accuracy', title='accuracy')
    loss_axes.legend()
    accuracy_axes.legend()
    print(f'decision boundaries: {save(boundaries, args.out, "circle-boundaries.png")}')
    print(f'loss and accuracy per epoch: {save(curves, args.out, "circle-training.png")}')


if __name__ == '__main__':
    main()
