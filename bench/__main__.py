"""python -m bench: time microgradc's engine core beside micrograd's, print one table.

    python -m bench [--repeats N] [--quick] [--out DIR]
"""
import argparse
import json
import os
import platform
import sys
from functools import partial
from pathlib import Path

from .timing import graph_sample, load_engine, medians, run
from .workloads import MOTIF_OPS, mixed_graph

# the first engine is the baseline every ratio divides by
ENGINES = [
    ('micrograd', 'micrograd.engine', 'pip install micrograd==0.1.0'),
    ('microgradc', 'microgradc.engine', 'pip install -e .  (from the repository root)'),
]
MOTIFS = 5          # motifs per lane: 50 ops
POOL = 64           # shared leaves
LANES = 2000        # ~100,000 ops
QUICK_LANES = 100   # ~5,000 ops

# (sample key, row label), lower is better for each, so ratio = baseline / other
ROWS = [
    ('forward_ns_per_op', 'forward (ns/op)'),
    ('backward_ns_per_node', 'backward (ns/node)'),
    ('bytes_per_node', 'memory, graph held (bytes/node)'),
    ('bytes_per_node_after_backward', 'memory, after backward (bytes/node)'),
]


def machine():
    """Platform, Python and CPU of this machine, and how busy it was at the start."""
    return {
        'platform': platform.platform(),
        'python': f"{platform.python_implementation()} {platform.python_version()}",
        'cpu': cpu_model(),
        'logical_cpus': os.cpu_count(),
        'load_average_1min': os.getloadavg()[0],
    }


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def table(rows):
    """rows of cells as aligned text: first column left, the others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join(
        '  '.join(cell.ljust(width) if i == 0 else cell.rjust(width)
                  for i, (cell, width) in enumerate(zip(row, widths))).rstrip()
        for row in rows)


def report(engines, summary, info, repeats, lanes):
    """The header, the table of medians, and what is missing, as printed text."""
    present = [engine for engine in engines if engine.module]
    baseline, others = engines[0], engines[1:]
    ops = summary[present[0].name]['ops']
    nodes = ', '.join(f"{engine.name} {summary[engine.name]['nodes']:,.0f}" for engine in present)
    lines = [
        'microgradc benchmark: engine core',
        f"machine:  {info['platform']}; {info['python']}",
        f"          {info['cpu']}, {info['logical_cpus']} logical CPUs, "
        f"load average {info['load_average_1min']:.2f} at start",
        'engines:  ' + ', '.join(f"{engine.name} {engine.version if engine.module else '(missing)'}"
                                 for engine in engines) + f"; ratios divide by {baseline.name}",
        f"workload: mixed graph, {lanes:,} lanes x {MOTIFS * MOTIF_OPS} ops over {POOL} shared leaves,",
        '          summed in a balanced tree; ops + - * / **2 relu, with Values and numbers on',
        f"          either side, shared nodes; {ops:,.0f} ops; nodes: {nodes}",
        f"method:   {repeats} repeat(s), engines alternated within each repeat, medians shown;",
        '          time.perf_counter; before every timed region dropped graphs are freed',
        '          (gc.collect(), and live_nodes() for microgradc) and gc is disabled during it,',
        '          for every engine alike; memory is read in a fresh interpreter per sample',
        '          (tracemalloc growth + arena_bytes() growth) while only the root is held',
        '',
    ]
    rows = [['metric', *(engine.name for engine in engines),
             *(f"ratio {baseline.name}/{engine.name}" for engine in others)]]
    for key, label in ROWS:
        cells = [f"{summary[engine.name][key]:,.1f}" if engine.module else 'missing'
                 for engine in engines]
        ratios = [f"{summary[baseline.name][key] / summary[engine.name][key]:.1f}x"
                  if baseline.module and engine.module else 'n/a' for engine in others]
        rows.append([label, *cells, *ratios])
    lines.append(table(rows))
    lines.append('')
    for engine in present:
        if hasattr(engine.module, 'NODE_BYTES'):
            lines.append(f"{engine.module_name}.NODE_BYTES = {engine.module.NODE_BYTES}")
    for engine in engines:
        if not engine.module:
            lines.append(f"{engine.name} is missing ({engine.missing}); install it with: "
                         f"{engine.install}")
    return '\n'.join(lines)


def main(argv=None):
    """Parse argv, run every workload on every engine, print the report, write --out."""
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, help='repeats per engine (default 7, --quick 3)')
    parser.add_argument('--quick', action='store_true',
                        help=f"smoke test: a {QUICK_LANES}-lane graph and 3 repeats")
    parser.add_argument('--out', type=Path, help='write every raw sample to DIR/results.json')
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else 3 if args.quick else 7
    if repeats < 1:
        parser.error('--repeats must be at least 1')
    lanes = QUICK_LANES if args.quick else LANES

    info = machine()
    engines = [load_engine(*spec) for spec in ENGINES]
    if not any(engine.module for engine in engines):
        sys.exit('no engine to measure: ' + '; '.join(f"{engine.name}: {engine.install}"
                                                      for engine in engines))
    build = partial(mixed_graph, lanes=lanes, motifs=MOTIFS, pool=POOL)
    workloads = {'mixed graph': partial(graph_sample, build=build)}
    samples = run(workloads, engines, repeats,
                  progress=lambda message: print(message, file=sys.stderr, flush=True))
    summary = {engine: medians(engine_samples)
               for engine, engine_samples in samples['mixed graph'].items()}
    print(report(engines, summary, info, repeats, lanes))

    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        results = {
            'machine': info,
            'settings': {'repeats': repeats, 'lanes': lanes, 'motifs': MOTIFS, 'pool': POOL,
                         'quick': args.quick},
            'engines': [{'name': engine.name, 'module': engine.module_name,
                         'version': engine.version if engine.module else None,
                         'missing': engine.missing, 'install': engine.install}
                        for engine in engines],
            'medians': summary,
            'samples': samples,
        }
        (args.out / 'results.json').write_text(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
