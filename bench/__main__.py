"""python -m bench: every workload on every installed engine; one table, a JSON file, a chart.

    python -m bench [--quick] [--only WORKLOAD ...] [--repeats N] [--out DIR]

Each kind of run writes to its own folder (bench-results/full/, bench-results/quick/,
bench-results/only-moons-digits/, ...), so a smoke test never replaces a full run's figures.
"""
import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

from . import chain, classify, gpt, moons, ops, scaling
from .engines import load_engines
from .report import chart, table
from .timing import medians, run

WORKLOADS = {
    'ops': ops.workload,
    'moons': moons.workload,
    'digits': classify.digits,
    'mnist': classify.mnist,
    'large': classify.large,
    'gpt': gpt.workload,
    'scaling': scaling.workload,
    'chain': chain.workload,
}
REPEATS, QUICK_REPEATS = 7, 2
# a cell (workload x engine) whose last sample took longer than SLOW_SECONDS gets
# only SLOW_SAMPLES samples: the slow references are sampled, not run to the end
SLOW_SECONDS, SLOW_SAMPLES = 10.0, 2
QUICK_SLOW_SECONDS, QUICK_SLOW_SAMPLES = 2.0, 1
RESULTS = Path('bench-results')
# what a run needs beyond the engines (an engine that is missing is shown as missing):
# matplotlib draws the chart; these workloads take their data from scikit-learn
CHART_NEEDS = 'matplotlib'
DATA_NEEDS = {'moons': 'sklearn', 'digits': 'sklearn'}
DISTRIBUTIONS = {'matplotlib': 'matplotlib', 'sklearn': 'scikit-learn'}
INSTALL_EXTRA = 'pip install -e ".[bench]"'


def machine():
    """Platform, Python and CPU of this machine, and how busy it was at the start."""
    return {
        'platform': platform.platform(),
        'python': f"{platform.python_implementation()} {platform.python_version()}",
        'cpu': cpu_model(),
        'logical_cpus': os.cpu_count(),
        'load_average_1min_start': os.getloadavg()[0],
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


def missing_packages(workload_names):
    """The distributions a run of these workloads needs that are not installed."""
    modules = dict.fromkeys([CHART_NEEDS] + [DATA_NEEDS[name] for name in workload_names
                                             if name in DATA_NEEDS])
    return [DISTRIBUTIONS[module] for module in modules if importlib.util.find_spec(module) is None]


def run_kind(quick, only, repeats):
    """'full', or what made the run less than full, as in 'quick-only-moons-digits':
    the name of its folder under bench-results/."""
    parts = ['quick'] if quick else []
    if only:
        parts.append('only-' + '-'.join(name for name in WORKLOADS if name in only))
    if repeats != (QUICK_REPEATS if quick else REPEATS):
        parts.append(f'{repeats}-repeats')
    return '-'.join(parts) or 'full'


def run_note(settings):
    """'' for a full run; else what makes the run's figures not the full suite's, one line."""
    notes = []
    if settings['quick']:
        notes.append('QUICK run (--quick): smaller workloads, a smoke test, not figures to quote')
    if settings['only']:
        notes.append(f"PARTIAL run (--only {' '.join(settings['workloads'])})")
    if settings['repeats'] != (QUICK_REPEATS if settings['quick'] else REPEATS):
        notes.append(f"{settings['repeats']} repeat{'s' * (settings['repeats'] != 1)} (--repeats)")
    return '; '.join(notes)


def header(info, engines, settings):
    """What ran where and how, as the lines above the table."""
    note = run_note(settings)
    lines = [
        'microgradc benchmark suite' + (f': {note}' if note else ': full run'),
        f"machine:  {info['platform']}; {info['python']}; {info['cpu']}, "
        f"{info['logical_cpus']} logical CPUs",
        f"load:     load average {info['load_average_1min_start']:.2f} at the start, "
        f"{info['load_average_1min_end']:.2f} at the end (other jobs share the machine); "
        f"{info['seconds']:.0f} s in all",
        'engines:',
    ]
    for engine in engines:
        version = engine.version if engine.present else 'MISSING'
        lines.append(f"  {engine.name:<10} {version:<12} {engine.about}")
    lines += [
        f"method:   {settings['repeats']} repeats, the engines in turn within each, medians shown;",
        f"          a cell whose samples take over {settings['slow_seconds']:g} s gets "
        f"{settings['slow_samples']} sample(s). time.perf_counter.",
        '          ops, scaling, chain: dropped graphs are freed (gc.collect()) before the forward,',
        '          not between it and the backward (it would evict the graph from the caches); the',
        '          collector is off in both, for every engine alike; memory is read in a fresh',
        '          interpreter (tracemalloc growth + arena_bytes() growth) with only the root held',
        '          (scaling: once a size).',
        '          moons, digits, mnist, large, gpt: the collector on, as users run; a sample is the mean',
        '          of as many steps as fill its minimum time, after a warm-up step, or one step alone',
        "          when it takes longer, after a gc.collect() (so it pays nothing for an earlier",
        "          step's garbage: this favours micrograd, whose graphs are cycles).",
        "ratios:   'micrograd / this' is micrograd's figure over the engine's: how many times",
        "          faster (or smaller) the engine is; 'torch / this' and 'limit / this' likewise",
        "          ('limit' is the step as numpy matrix products on one thread).",
        '',
    ]
    return '\n'.join(lines)


def footer(engines):
    """What is missing and how to install it; microgradc's node size."""
    lines = ['']
    for engine in engines:
        if not engine.present:
            lines.append(f"{engine.name} is missing ({engine.missing}); install it with: "
                         f"{engine.install}")
    if 'microgradc.engine' in sys.modules:
        lines.append(f"microgradc.engine.NODE_BYTES = {sys.modules['microgradc.engine'].NODE_BYTES}")
    return '\n'.join(lines)


def main(argv=None):
    """Parse argv, run the workloads on every engine, print the report, write JSON and chart."""
    parser = argparse.ArgumentParser(prog='python -m bench', description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help=f'smoke test, under a minute: smaller workloads, {QUICK_REPEATS} repeats')
    parser.add_argument('--only', nargs='+', choices=list(WORKLOADS), metavar='WORKLOAD',
                        help=f"run only these workloads, of: {' '.join(WORKLOADS)}")
    parser.add_argument('--repeats', type=int, metavar='N',
                        help=f'repeats per engine (default {REPEATS}, --quick {QUICK_REPEATS})')
    parser.add_argument('--out', type=Path, metavar='DIR',
                        help=f'directory for results.json and speedup.png (default: '
                             f'{RESULTS}/KIND/, KIND being full, quick, only-moons-digits, ...)')
    args = parser.parse_args(argv)
    repeats = args.repeats or (QUICK_REPEATS if args.quick else REPEATS)
    if repeats < 1:
        parser.error('--repeats must be at least 1')
    settings = {
        'quick': args.quick, 'repeats': repeats, 'only': bool(args.only),
        'run': run_kind(args.quick, args.only, repeats),
        'workloads': [name for name in WORKLOADS if not args.only or name in args.only],
        'slow_seconds': QUICK_SLOW_SECONDS if args.quick else SLOW_SECONDS,
        'slow_samples': QUICK_SLOW_SAMPLES if args.quick else SLOW_SAMPLES,
    }
    out = args.out or RESULTS / settings['run']
    missing = missing_packages(settings['workloads'])
    if missing:
        sys.exit(f"python -m bench needs {' and '.join(missing)}, not installed here. In the "
                 f"repository root, install the bench's extra (it brings micrograd and PyTorch, "
                 f"the engines it compares, too):\n  {INSTALL_EXTRA}")

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    start = time.monotonic()
    info = machine()
    engines = load_engines()
    if not any(engine.present for engine in engines):
        sys.exit('no engine to measure: ' + '; '.join(f"{engine.name}: {engine.install}"
                                                      for engine in engines))
    for engine in engines:
        if not engine.present:
            progress(f"{engine.name} is missing; install it with: {engine.install}")
    workloads = []
    for name in settings['workloads']:
        progress(f"preparing {name}")
        workloads.append(WORKLOADS[name](args.quick))
    samples = run(workloads, engines, repeats, progress,
                  slow=(settings['slow_seconds'], settings['slow_samples']))
    summary = {workload: {engine: medians(cell) for engine, cell in cells.items()}
               for workload, cells in samples.items()}
    info['load_average_1min_end'] = os.getloadavg()[0]
    info['seconds'] = time.monotonic() - start

    text = '\n'.join([header(info, engines, settings), table(workloads, engines, summary),
                      footer(engines)])
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    results = {
        'machine': info,
        'settings': settings,
        'engines': [{'name': engine.name, 'about': engine.about,
                     'version': engine.version if engine.present else None,
                     'missing': engine.missing, 'install': engine.install} for engine in engines],
        'workloads': {workload.name: {
            'title': workload.title,
            'metrics': [{'key': metric.key, 'label': metric.label, 'scale': metric.scale}
                        for metric in workload.metrics],
            'medians': summary[workload.name],
            'samples': samples[workload.name],
        } for workload in workloads},
        'table': text,
    }
    (out / 'results.json').write_text(json.dumps(results, indent=2))
    drawn = chart(out / 'speedup.png', workloads, engines, summary, run_note(settings))
    if not drawn:
        (out / 'speedup.png').unlink(missing_ok=True)  # an earlier run's: not of this one
    print(f"\nevery raw sample: {out / 'results.json'}; "
          + (f"chart: {out / 'speedup.png'}" if drawn else
             "no chart: nothing this run measured has a place on it"))


if __name__ == '__main__':
    main()
