"""Workloads x engines: how samples are taken, and the runner that alternates engines.

A graph sample (the engine core, scaling, the chain), on one engine:
  1. forward: build a fresh graph, timed (time.perf_counter);
  2. backward: root.backward() on that same fresh graph, timed;
  3. memory, where asked: build it again in a fresh interpreter and read the
     bytes it holds (tracemalloc for Python objects, plus arena_bytes() for an
     engine with a C core), so nothing an earlier graph left behind is counted.
Before the forward whatever earlier samples dropped is freed; before the backward
nothing is, not even by gc.collect(): walking the whole heap (torch's and
sklearn's objects too) would evict the fresh graph from the caches, which a
user's backward right after its forward finds warm. The
garbage collector stays off in both regions, for every engine alike.

A steps sample (the training workloads) runs a training step the way a user's
loop does, the collector on: a first step, then, if it was quicker than the
sample's minimum time, as many more as fill it, timed together (the first one
left out as a warm-up). A step slower than the minimum is its own sample: the
slow references run a few steps, never a whole epoch.

Within each repeat the engines take turns (A B C ... A B C ...), so slow drift in
the machine lands on all of them; reports use the median over repeats. The runner
says which cell it starts and, while a slow one runs, how far it is, each time with
an estimate of what is left of the whole run.
"""
import gc
import importlib
import math
import multiprocessing
import statistics
import threading
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from time import perf_counter


@dataclass(frozen=True)
class Metric:
    """One row of the table: a key of the samples, lower is better."""
    key: str
    label: str
    scale: float = 1.0   # printed: the sample's value times this (seconds to ms: 1e3)
    ratios: bool = True  # print each engine's ratio to micrograd and to torch
    chart: bool = False  # a group of bars in the chart's speedup panel


@dataclass
class Workload:
    """What `--only` picks: a title, its rows, and each engine's measure() -> sample dict."""
    name: str
    title: str
    metrics: list
    measures: dict


def free_dropped():
    """Free graphs dropped earlier: gc.collect() for cyclic ones (micrograd's closures;
    microgradc frees a node as its last holder goes)."""
    gc.collect()


@contextmanager
def collector_off():
    """Keep the cyclic garbage collector off for the block."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


NODE_COUNTS = {}  # (build, Value): nodes of that graph, counted once (the same every time)


def graph_sample(build, Value, count, memory_module=None):
    """One sample of the graph build(Value) makes: times, count(root) nodes and, if
    memory_module names the module holding Value, bytes held (in a fresh interpreter)."""
    free_dropped()
    with collector_off():
        start = perf_counter()
        root, ops = build(Value)
        forward_s = perf_counter() - start
    with collector_off():
        start = perf_counter()
        try:
            root.backward()
        except RecursionError:  # micrograd's recursive sort, on a deep graph
            return {'ops': ops, 'forward_s': forward_s, 'forward_ns_per_op': forward_s * 1e9 / ops,
                    'backward_s': 'RecursionError'}
        backward_s = perf_counter() - start
    if (build, Value) not in NODE_COUNTS:
        NODE_COUNTS[build, Value] = count(root)
    nodes = NODE_COUNTS[build, Value]
    del root
    sample = {
        'ops': ops,
        'nodes': nodes,
        'forward_s': forward_s,
        'backward_s': backward_s,
        'forward_ns_per_op': forward_s * 1e9 / ops,
        'backward_ns_per_node': backward_s * 1e9 / nodes,
        'ns_per_node': (forward_s + backward_s) * 1e9 / nodes,
    }
    if memory_module:
        memory = in_fresh_process(graph_bytes, memory_module, build)
        sample.update(memory)
        sample['bytes_per_node'] = (memory['held_python_bytes'] + memory['held_c_bytes']) / nodes
        sample['bytes_per_node_after_backward'] = (
            memory['after_backward_python_bytes'] + memory['after_backward_c_bytes']) / nodes
    return sample


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


def steps_sample(step, min_seconds, collector=True):
    """Seconds per call of step(k), k = 0, 1, ...: the mean of as many calls as fill
    min_seconds, after step(0) as a warm-up; or step(0) alone if it took min_seconds or
    more. What earlier samples dropped is freed first, so such a lone step pays nothing
    to collect an earlier step's garbage, as a step in a loop does: this favours the
    slow engine, micrograd, whose graphs are cycles. The collector stays on unless
    `collector` is False."""
    free_dropped()
    with nullcontext() if collector else collector_off():
        start = perf_counter()
        step(0)
        first_s = perf_counter() - start
        if first_s >= min_seconds:
            return {'steps': 1, 'seconds': first_s, 'step_s': first_s}
        steps = math.ceil(min_seconds / first_s)
        start = perf_counter()
        for k in range(1, steps + 1):
            step(k)
        seconds = perf_counter() - start
    return {'steps': steps, 'seconds': seconds, 'step_s': seconds / steps, 'warmup_s': first_s}


def training_sample(setup, min_seconds, slots=None, also_paused=False):
    """setup() -> (step, facts): a fresh model's training step(k), and facts about it
    (a compile time, tape slots). The sample: the facts, steps_sample with the collector
    on, its time per tape slot if `slots` is given and, if also_paused, steps_sample
    again with the collector paused (keys ending in _gc_paused)."""
    step, facts = setup()
    sample = {**facts, **steps_sample(step, min_seconds)}
    if slots:
        sample['ns_per_slot'] = sample['step_s'] * 1e9 / slots
    if also_paused:
        paused = steps_sample(step, min_seconds, collector=False)
        sample.update({f'{key}_gc_paused': value for key, value in paused.items()})
    return sample


TICK_SECONDS = 15  # a sample that runs longer than this says so, this often


@contextmanager
def every(seconds, call):
    """Call call() every `seconds` from a background thread while the block runs. The
    thread sleeps in between, so it takes nothing from the timed work but the call."""
    done = threading.Event()

    def ticks():
        while not done.wait(seconds):
            call()
    thread = threading.Thread(target=ticks, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def duration(seconds):
    """seconds as '45 s' or '12 min 5 s'."""
    seconds = round(max(0.0, seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def run(workloads, engines, repeats, progress=lambda message: None, slow=(math.inf, 0)):
    """Measure each workload on each present engine it has code for, `repeats` times,
    engines in turn within each repeat; a cell whose last sample took longer than
    slow[0] seconds stops at slow[1] samples. Says through progress() which cell it
    starts, and every TICK_SECONDS while one runs, with what is left of the whole run.
    Returns {workload: {engine: [sample, ...]}}."""
    slow_seconds, slow_samples = slow
    present = [engine.name for engine in engines if engine.present]
    samples = {w.name: {e: [] for e in present if e in w.measures} for w in workloads}
    last_seconds = {}
    start = time.monotonic()

    def to_take(cell_name, cell):
        """How many more samples the cell takes, by its last sample's time."""
        slow_cell = last_seconds[cell_name] > slow_seconds
        return max(0, (min(repeats, slow_samples) if slow_cell else repeats) - len(cell))

    def left(current=None, running_for=0.0):
        """What is left of the run, as text: the samples still to take, at their cell's
        last sample's time, less what the running sample has done; cells not yet timed
        make it a lower bound."""
        seconds, pairs, untimed = 0.0, 0, 0
        for workload_name, cells in samples.items():
            for engine, cell in cells.items():
                cell_name = workload_name, engine
                pairs += 1
                if cell_name not in last_seconds:
                    untimed += 1
                    continue
                seconds += to_take(cell_name, cell) * last_seconds[cell_name]
        if current in last_seconds:
            seconds -= min(running_for, last_seconds[current])
        if not untimed:
            return f"about {duration(seconds)} left"
        not_timed = f"{untimed} of {pairs} workload-engine pairs not yet timed"
        return f"at least {duration(seconds)} left, and {not_timed}" if seconds >= 1 else not_timed

    def still_running(doing, cell_name, began):
        running_for = time.monotonic() - began
        progress(f"[{time.monotonic() - start:6.1f} s]   still on {doing}, {running_for:.0f} s "
                 f"into this sample; {left(cell_name, running_for)}")

    for repeat in range(repeats):
        for workload in workloads:
            for engine, cell in samples[workload.name].items():
                cell_name = workload.name, engine
                if len(cell) >= slow_samples and last_seconds.get(cell_name, 0) > slow_seconds:
                    continue
                doing = f"repeat {repeat + 1}/{repeats}: {workload.name}, {engine}"
                progress(f"[{time.monotonic() - start:6.1f} s] {doing}; {left()}")
                began = time.monotonic()
                with every(TICK_SECONDS, partial(still_running, doing, cell_name, began)):
                    cell.append(workload.measures[engine]())
                last_seconds[cell_name] = time.monotonic() - began
    return samples


def medians(samples):
    """The median of each metric over a list of sample dicts, over the samples that
    have it; a metric whose value is text (an error) keeps the first sample's text."""
    keys = dict.fromkeys(key for sample in samples for key in sample)
    summary = {}
    for key in keys:
        values = [sample[key] for sample in samples if key in sample]
        numeric = all(isinstance(value, (int, float)) for value in values)
        summary[key] = statistics.median(values) if numeric else values[0]
    return summary
