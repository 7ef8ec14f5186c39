"""The report: one table of medians and ratios as text, and the chart as a PNG.

summary, here, is {workload name: {engine name: medians of its samples}}.
A cell shows 'missing' for an engine not installed, '-' where the engine has no
code for the workload or no figure for the row, and an error's text as measured.
"""
import textwrap

from .engines import BASELINES

COLORS = {'micrograd': 'tab:gray', 'drop-in': 'tab:blue', 'nn': 'tab:orange',
          'compiled': 'tab:green', 'torch': 'tab:red'}


def number(value):
    """value with 3 significant digits, thousands separated: 2,218, 784, 5.21, 0.0612."""
    if abs(value) >= 100:
        return f'{value:,.0f}'
    if abs(value) >= 10:
        return f'{value:.1f}'
    return f'{value:.2f}' if abs(value) >= 1 else f'{value:.3g}'


def figure(summary, workload, engine, key):
    """The engine's median for key in workload, a number or an error's text, or None."""
    return summary.get(workload.name, {}).get(engine, {}).get(key)


def ratio(summary, workload, baseline, engine, key):
    """baseline's figure / engine's figure (how many times faster or smaller), or None."""
    top, bottom = (figure(summary, workload, name, key) for name in (baseline, engine))
    numbers = all(isinstance(value, (int, float)) and value > 0 for value in (top, bottom))
    return top / bottom if numbers else None


def table(workloads, engines, summary):
    """Each workload's title, then a row per metric and its ratio rows, aligned."""
    names = [engine.name for engine in engines]
    present = {engine.name for engine in engines if engine.present}
    rows = []  # a str is a title line; a list is a row of cells
    for workload in workloads:
        rows.append(workload.title)
        for metric in workload.metrics:
            cells = []
            for name in names:
                value = figure(summary, workload, name, metric.key)
                cells.append('missing' if name not in present else '-' if value is None
                             else value if isinstance(value, str) else number(value * metric.scale))
            rows.append([f'  {metric.label}', *cells])
            for baseline in BASELINES if metric.ratios else ():
                ratios = [ratio(summary, workload, baseline, name, metric.key) for name in names]
                if any(ratios):
                    rows.append([f'    {baseline} / this',
                                 *('' if name == baseline or r is None else f'{number(r)}x'
                                   for name, r in zip(names, ratios))])
    grid = [['', *names]] + [row for row in rows if isinstance(row, list)]
    widths = [max(len(row[i]) for row in grid) for i in range(len(grid[0]))]

    def line(row):
        return '  '.join(cell.ljust(width) if i == 0 else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(row, widths))).rstrip()
    return '\n'.join([line(grid[0])] + [row if isinstance(row, str) else line(row) for row in rows])


def chart(path, workloads, engines, summary):
    """Write the two-panel PNG: speedup over micrograd per workload (log), and
    forward + backward time per node against graph size (log-log)."""
    import matplotlib
    matplotlib.use('Agg')  # files only: no window, no display needed
    import matplotlib.pyplot as plt

    fig, (speedup, scaling) = plt.subplots(1, 2, figsize=(14, 5.5),
                                           gridspec_kw={'width_ratios': [3, 2]})
    groups = [(workload, metric) for workload in workloads for metric in workload.metrics
              if metric.chart]
    others = [engine.name for engine in engines if engine.present and engine.name != 'micrograd']
    width = 0.8 / max(1, len(others))
    drawn = False
    for i, name in enumerate(others):
        bars = [(g + (i - (len(others) - 1) / 2) * width, r) for g, (workload, metric)
                in enumerate(groups) if (r := ratio(summary, workload, 'micrograd', name, metric.key))]
        if bars:
            drawn = speedup.bar(*zip(*bars), width, label=name, color=COLORS[name])
            speedup.bar_label(drawn, labels=[number(r) for _, r in bars], fontsize=6, rotation=90,
                              padding=2)
    speedup.set_yscale('log')
    speedup.axhline(1, color='black', linewidth=0.8)
    speedup.set_xticks(range(len(groups)),
                       [f'{workload.name}\n' + textwrap.fill(metric.label, 16)
                        for workload, metric in groups], fontsize=7)
    speedup.set_ylabel('micrograd / engine (times faster, or smaller)')
    speedup.set_title('speedup over micrograd, per workload')
    if drawn:
        speedup.set_ylim(top=speedup.get_ylim()[1] * 4)  # room for the labels above the bars
        speedup.legend(fontsize=8, loc='upper left')
    else:
        speedup.text(0.5, 0.5, 'no speedup to show (micrograd missing or not run)',
                     ha='center', transform=speedup.transAxes)

    runs = summary.get('scaling', {})
    for name, medians in runs.items():
        sizes = sorted(int(key.rsplit('_', 1)[1]) for key in medians if key.startswith('nodes_'))
        scaling.plot([medians[f'nodes_{size}'] for size in sizes],
                     [medians[f'ns_per_node_{size}'] for size in sizes],
                     marker='o', label=name, color=COLORS[name])
    scaling.set_xscale('log')
    scaling.set_yscale('log')
    scaling.set_xlabel("graph size (the engine's nodes)")
    scaling.set_ylabel('forward + backward time per node (ns)')
    scaling.set_title('time per node against graph size (flat: linear cost)')
    if runs:
        scaling.legend(fontsize=8, loc='best')
    else:
        scaling.text(0.5, 0.5, 'scaling not run', ha='center', transform=scaling.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
