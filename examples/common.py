"""What the examples share: the command line, a progress bar, saving a figure under a
name of its run, drawing a decision boundary."""
import argparse
import os

import matplotlib
matplotlib.use('Agg')  # files only: no window, no display needed
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402


def parse_args(description, quick, compiled=False):
    """The command line of an example: --out DIR (created), --quick (what quick does) and,
    if compiled, --compiled (train with a step traced once by microgradc.compile)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--out', default='examples-output',
                        help='directory for the plots (default: examples-output/)')
    parser.add_argument('--quick', action='store_true', help=quick)
    if compiled:
        parser.add_argument('--compiled', action='store_true',
                            help='trace the loss once with microgradc.compile, replay it in C')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return args


def progress(iterable, **options):
    """iterable with tqdm's progress bar on a terminal, and none when the output goes to a
    file or a pipe (a log would get a line per update)."""
    return tqdm(iterable, disable=None, **options)


def run_name(example, args):
    """The stem of a run's file names: the example's name, and '-compiled' after it for a
    --compiled run, so the two runs keep their own plots."""
    return f'{example}-compiled' if getattr(args, 'compiled', False) else example


def save(figure, out, name):
    """Write figure to out/name as PNG, close it, and return the path."""
    path = os.path.join(out, name)
    figure.savefig(path, dpi=120, bbox_inches='tight')
    plt.close(figure)
    return path


def decision_boundary(axes, model, X, y, step=0.05, margin=0.5):
    """Shade where model(point) > 0 on a grid around the points X, then scatter X colored by y."""
    xs = np.arange(X[:, 0].min() - margin, X[:, 0].max() + margin, step)
    ys = np.arange(X[:, 1].min() - margin, X[:, 1].max() + margin, step)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = np.c_[grid_x.ravel(), grid_y.ravel()].tolist()
    positive = np.array([model(point).data > 0 for point in points]).reshape(grid_x.shape)
    axes.contourf(grid_x, grid_y, positive, cmap=plt.cm.Spectral, alpha=0.8)
    axes.scatter(X[:, 0], X[:, 1], c=y, s=20, cmap=plt.cm.Spectral, edgecolors='k', linewidths=0.5)
    axes.set_xlim(grid_x.min(), grid_x.max())
    axes.set_ylim(grid_y.min(), grid_y.max())
