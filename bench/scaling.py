"""Scaling: the engine core's mixed graph at 1e3 to 1e6 ops; time and bytes per node.

Time per node is forward plus backward over the engine's own nodes (micrograd makes
more nodes for the same ops; compiled counts its tape slots and replays the traced
graph). Bytes per node, while the graph is held, are read once per size, in the
first repeat, each in a fresh interpreter (torch and a compiled tape allocate where
tracemalloc cannot see). Flat rows mean the cost grows linearly with the graph.
"""
import importlib
from functools import partial

import numpy as np

from .graphs import MOTIF_OPS, count_nodes, count_torch_nodes, mixed_graph, mixed_graph_over
from .ops import MOTIFS, POOL, torch_leaf
from .timing import Metric, Workload, graph_sample, steps_sample

SIZES, QUICK_SIZES = (1_000, 10_000, 100_000, 1_000_000), (1_000, 10_000)
LANE_OPS = MOTIFS * MOTIF_OPS + 1  # a lane's ops, with its share of the final sum
MIN_SECONDS, QUICK_MIN_SECONDS = 0.2, 0.05  # a compiled sample's replays fill at least this


def lanes(size):
    """How many lanes make a mixed graph of about `size` ops."""
    return max(1, round(size / LANE_OPS))


def builds(sizes):
    """{size: the mixed graph's builder at that size}."""
    return {size: partial(mixed_graph, lanes=lanes(size), motifs=MOTIFS, pool=POOL)
            for size in sizes}


def eager(module_name, sizes):
    """measure() of an engine whose Value lives in module_name: every size, memory
    the first time only."""
    samples = []
    graphs = builds(sizes)

    def measure():
        Value = importlib.import_module(module_name).Value
        sample = {}
        for size, build in graphs.items():
            one = graph_sample(build, Value, count_nodes,
                               memory_module=None if samples else module_name)
            sample[f'ns_per_node_{size}'] = one['ns_per_node']
            if 'bytes_per_node' in one:
                sample[f'bytes_per_node_{size}'] = one['bytes_per_node']
            sample[f'nodes_{size}'] = one['nodes']
        samples.append(sample)
        return sample
    return measure


def compiled(sizes, min_seconds):
    """measure() of microgradc.compile: each size traced, then replayed for min_seconds."""
    def measure():
        import microgradc as mg
        sample = {}
        pool = np.array([0.5 + (0.618 * i) % 1.0 for i in range(POOL)])  # mixed_graph's leaves
        for size in sizes:
            graph = partial(mixed_graph_over, lanes=lanes(size), motifs=MOTIFS)
            traced = mg.compile(lambda leaves: graph(leaves)[0], pool)
            replay = steps_sample(partial(replay_step, traced, pool), min_seconds, collector=False)
            sample[f'ns_per_node_{size}'] = replay['step_s'] * 1e9 / traced.slots
            sample[f'nodes_{size}'] = traced.slots
        return sample
    return measure


def replay_step(traced, pool, k):
    """One replay of a compiled graph: steps_sample's step(k)."""
    traced(pool)


def torch_measure(sizes):
    """measure() of torch: every size, no memory (its C++ allocations are unseen)."""
    graphs = builds(sizes)

    def measure():
        sample = {}
        for size, build in graphs.items():
            one = graph_sample(build, torch_leaf, count_torch_nodes)
            sample[f'ns_per_node_{size}'] = one['ns_per_node']
            sample[f'nodes_{size}'] = one['nodes']
        return sample
    return measure


def workload(quick):
    """The scaling Workload; --quick stops at 10,000 ops."""
    sizes = QUICK_SIZES if quick else SIZES
    min_seconds = QUICK_MIN_SECONDS if quick else MIN_SECONDS
    metrics = [Metric(f'ns_per_node_{size}', f'{size:,} ops: forward + backward (ns/node)',
                      ratios=False) for size in sizes]
    metrics += [Metric(f'bytes_per_node_{size}', f'{size:,} ops: memory (bytes/node)',
                       ratios=False) for size in sizes]
    return Workload(
        name='scaling',
        title=f"scaling: the engine core's mixed graph at {sizes[0]:,} to {sizes[-1]:,} ops, "
              f"per node of each engine's own graph",
        metrics=metrics,
        measures={
            'micrograd': eager('micrograd.engine', sizes),
            'drop-in': eager('microgradc.engine', sizes),
            'compiled': compiled(sizes, min_seconds),
            'torch': torch_measure(sizes),
        },
    )
