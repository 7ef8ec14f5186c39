"""The engine core: op microbenchmarks on a ~100,000-op mixed graph.

Forward: ns per op to build the graph; backward: ns per node for root.backward();
memory: bytes per node while the graph is held, and after its backward, each read
in a fresh interpreter. Engines: micrograd, drop-in (microgradc.engine.Value) and
torch (0-d float64 tensors with requires_grad, the same ops; its memory is C++
allocations that tracemalloc cannot see, so it has no bytes row).
"""
import importlib
from functools import partial

from .graphs import MOTIF_OPS, count_nodes, count_torch_nodes, mixed_graph
from .timing import Metric, Workload, graph_sample

MOTIFS = 5          # motifs per lane: 50 ops
POOL = 64           # shared leaves
LANES = 2000        # ~100,000 ops
QUICK_LANES = 100   # ~5,000 ops


def torch_leaf(x):
    """A float64 scalar tensor that requires grad: torch's Value(x)."""
    import torch
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def workload(quick):
    """The engine-core Workload; --quick builds a 5,000-op graph."""
    lanes = QUICK_LANES if quick else LANES
    build = partial(mixed_graph, lanes=lanes, motifs=MOTIFS, pool=POOL)

    def eager(module_name):
        return lambda: graph_sample(build, importlib.import_module(module_name).Value,
                                    count_nodes, memory_module=module_name)

    return Workload(
        name='ops',
        title=f"engine core: a mixed graph of {lanes * (MOTIFS * MOTIF_OPS + 1) - 1:,} ops "
              f"(+ - * / **2 relu) over {POOL} shared leaves",
        metrics=[
            Metric('forward_ns_per_op', 'forward (ns/op)', chart=True),
            Metric('backward_ns_per_node', 'backward (ns/node)', chart=True),
            Metric('bytes_per_node', 'memory, graph held (bytes/node)', chart=True),
            Metric('bytes_per_node_after_backward', 'memory, after backward (bytes/node)'),
        ],
        measures={
            'micrograd': eager('micrograd.engine'),
            'drop-in': eager('microgradc.engine'),
            'torch': lambda: graph_sample(build, torch_leaf, count_torch_nodes),
        },
    )
