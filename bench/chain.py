"""A deep chain: x = x * c + a, 1,000,000 ops deep, built and backpropagated.

micrograd builds 200,000 ops of it, which times its forward per op (the bare cost
of one scalar op from Python), and its backward() raises RecursionError there, as
its recursive sort does past about 1,000; drop-in runs the full chain; torch runs a
tenth of it (its forward takes about 5 s a million ops) and compares per node.
"""
import importlib
from functools import partial

from .graphs import chain, count_nodes
from .ops import torch_leaf
from .timing import Metric, Workload, graph_sample

OPS, QUICK_OPS = 1_000_000, 100_000
# micrograd: its forward is timed; its backward is past its recursion limit
MICROGRAD_OPS, QUICK_MICROGRAD_OPS = 200_000, 20_000
TORCH_SHARE = 10        # torch runs OPS / TORCH_SHARE


def sample(leaf_maker, ops, count):
    """measure() of the chain on the Value class leaf_maker() returns (graph_sample)."""
    build = partial(chain, ops=ops)
    return lambda: graph_sample(build, leaf_maker(), count)


def torch_chain_nodes(ops):
    """count(root) for torch's chain of `ops` ops: one autograd node an op and one a leaf
    (x and a). Counted, not walked: walking gives every node a Python object, and a
    graph this deep, so walked, overflows the C stack when freed (torch 2.13)."""
    return lambda root: ops + 2


def workload(quick):
    """The deep-chain Workload; --quick builds 100,000 ops."""
    ops = QUICK_OPS if quick else OPS
    return Workload(
        name='chain',
        title=f"deep chain: x = x * c + a, {ops:,} ops deep (micrograd "
              f"{QUICK_MICROGRAD_OPS if quick else MICROGRAD_OPS:,}, "
              f"torch {ops // TORCH_SHARE:,})",
        metrics=[
            Metric('ops', 'chain length (ops)', ratios=False),
            Metric('backward_s', 'backward (s)', ratios=False),
            Metric('forward_ns_per_op', 'forward (ns/op)'),
            Metric('backward_ns_per_node', 'backward (ns/node)'),
        ],
        measures={
            'micrograd': sample(lambda: importlib.import_module('micrograd.engine').Value,
                                QUICK_MICROGRAD_OPS if quick else MICROGRAD_OPS, count_nodes),
            'drop-in': sample(lambda: importlib.import_module('microgradc.engine').Value,
                              ops, count_nodes),
            'torch': sample(lambda: torch_leaf, ops // TORCH_SHARE,
                            torch_chain_nodes(ops // TORCH_SHARE)),
        },
    )
