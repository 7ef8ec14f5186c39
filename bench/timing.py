"""Engines, samples, and the runner that alternates them: workloads x engines.

One sample of a graph workload, on one engine:
  1. forward: build a fresh graph, timed (time.perf_counter);
  2. backward: root.backward() on that same fresh graph, timed;
  3. memory: build it again in a fresh interpreter and read the bytes it holds
     (tracemalloc for Python objects, plus arena_bytes() for an engine with a
     C core), so nothing an earlier graph left behind is counted or hidden.
Before each timed region whatever earlier samples dropped is freed, and the
garbage collector stays off until the region ends, for every engine alike.
Within each repeat the engines take turns (A B A B ...), so slow drift in the
machine lands on all of them; reports use the median over repeats.
"""
import gc
import importlib
import multiprocessing
import statistics
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from time import perf_counter
from types import ModuleType

from .workloads import count_nodes


@dataclass
class Engine:
    """A Value implementation under test; when it cannot be imported, `missing` says why."""
    name: str                          # its distribution name, as tables print it
    module_name: str                   # the module holding its Value class
    install: str                       # the command that installs it, shown when missing
    module: ModuleType | None = None   # the imported module, None when missing
    missing: str = ''                  # the import error, '' when present

    @property
    def Value(self):
        """The engine's Value class."""
        return self.module.Value

    @property
    def version(self):
        """The installed version of its distribution, or 'unknown'."""
        try:
            return metadata.version(self.name)
        except metadata.PackageNotFoundError:
            return 'unknown'

    def free_dropped(self):
        """Free graphs dropped earlier: gc.collect() for cyclic ones (micrograd's
        closures), and pending releases for an engine that batches them."""
        gc.collect()
        if hasattr(self.module, 'live_nodes'):
            self.module.live_nodes()  # flushes microgradc's batched releases


def load_engine(name, module_name, install):
    """An Engine with its module imported, or with `missing` set if the import fails."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return Engine(name, module_name, install, missing=str(error))
    return Engine(name, module_name, install, module=module)


@contextmanager
def collector_off():
    """Keep the cyclic garbage collector off for the block."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def timed_region(engine):
    """Free what earlier samples dropped, then keep the collector off for the block."""
    engine.free_dropped()
    with collector_off():
        yield


def graph_sample(engine, build):
    """One sample of the graph `build(Value)` makes: times, node count, bytes."""
    with timed_region(engine):
        start = perf_counter()
        root, ops = build(engine.Value)
        forward_s = perf_counter() - start
    with timed_region(engine):
        start = perf_counter()
        root.backward()
        backward_s = perf_counter() - start
    nodes = count_nodes(root)
    del root
    memory = in_fresh_process(graph_bytes, engine.module_name, build)
    return {
        'ops': ops,
        'nodes': nodes,
        'forward_s': forward_s,
        'backward_s': backward_s,
        **memory,
        'forward_ns_per_op': forward_s * 1e9 / ops,
        'backward_ns_per_node': backward_s * 1e9 / nodes,
        'bytes_per_node': (memory['held_python_bytes'] + memory['held_c_bytes']) / nodes,
        'bytes_per_node_after_backward':
            (memory['after_backward_python_bytes'] + memory['after_backward_c_bytes']) / nodes,
    }


def in_fresh_process(function, *args):
    """function(*args) run in a newly spawned interpreter; its return value."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn')) as pool:
        return pool.submit(function, *args).result()


def graph_bytes(module_name, build):
    """Bytes the graph `build(Value)` makes holds while only its root is held, and
    again after root.backward(): Python's (tracemalloc growth) and C's
    (arena_bytes() growth; 0 for an engine without one). Run it in a fresh
    interpreter, where no earlier graph has grown the arena."""
    module = importlib.import_module(module_name)
    c_bytes = getattr(module, 'arena_bytes', lambda: 0)
    gc.collect()
    tracemalloc.start()
    python_before, c_before = tracemalloc.get_traced_memory()[0], c_bytes()
    with collector_off():  # only to save time: each reading below follows a gc.collect()
        root, _ = build(module.Value)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - python_before, c_bytes() - c_before
    with collector_off():
        root.backward()
    gc.collect()  # micrograd's recursive topo sort leaves a cycle holding its lists
    after = tracemalloc.get_traced_memory()[0] - python_before, c_bytes() - c_before
    tracemalloc.stop()
    return {
        'held_python_bytes': held[0],
        'held_c_bytes': held[1],
        'after_backward_python_bytes': after[0],
        'after_backward_c_bytes': after[1],
    }


def run(workloads, engines, repeats, progress=lambda message: None):
    """Measure each workload on each present engine, `repeats` times, engines in
    turn within each repeat. `workloads` maps a name to measure(engine) -> sample
    dict. Returns {workload: {engine: [sample, ...]}}."""
    present = [engine for engine in engines if engine.module]
    samples = {name: {engine.name: [] for engine in present} for name in workloads}
    for repeat in range(repeats):
        for name, measure in workloads.items():
            for engine in present:
                progress(f"repeat {repeat + 1}/{repeats}: {name}, {engine.name}")
                samples[name][engine.name].append(measure(engine))
    return samples


def medians(samples):
    """The median of each metric over a list of sample dicts."""
    return {metric: statistics.median(sample[metric] for sample in samples)
            for metric in samples[0]}
