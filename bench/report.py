"""The report: one table of medians and ratios as text, and the chart as a PNG.

summary, here, is {workload name: {engine name: medians of its samples}}.
A cell shows 'missing' for an engine not installed, '-' where the engine has no
code for the workload or no figure for the row, and an error's text as measured.
"""
import textwrap

from .engines import BASELINES

COLORS = {'micrograd': 'tab:gray', 'drop-in': 'tab:blue', 'nn': 'tab:orange',
          'compiled': 'tab:green', 'torch': 'tab:red', 'compiled-threads': 'tab:olive',
          'torch-threads': 'tab:purple',
          'limit': 'black'}


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


def chart(path, workloads, engines, summary, note=''):
    """Write a PNG of what ran: the speedup over micrograd per workload (log), if some
    engine has a ratio to micrograd, and forward + backward time per node against graph
    size (log-log), if scaling ran; `note` (what makes the run quick or partial) heads
    it. Returns whether there was anything to draw (if not, it writes nothing)."""
    groups = [(workload, metric) for workload in workloads for metric in workload.metrics
              if metric.chart]
    others = [engine.name for engine in engines if engine.present and engine.name != 'micrograd']
    bars = {name: [(g, r) for g, (workload, metric) in enumerate(groups)
                   if (r := ratio(summary, workload, 'micrograd', name, metric.key))]
            for name in others}
    bars = {name: pairs for name, pairs in bars.items() if pairs}
    runs = summary.get('scaling', {})
    panels = ['speedup'] * bool(bars) + ['scaling'] * bool(runs)
    if not panels:
        return False

    import matplotlib
    matplotlib.use('Agg')  # files only: no window, no display needed
    import matplotlib.pyplot as plt

    widths = {'speedup': 8.4, 'scaling': 5.6}
    fig, axes = plt.subplots(1, len(panels), figsize=(sum(widths[p] for p in panels), 5.5),
                             gridspec_kw={'width_ratios': [widths[p] for p in panels]},
                             squeeze=False)
    axes = dict(zip(panels, axes[0]))
    if 'speedup' in axes:
        speedup_panel(axes['speedup'], groups, bars)
    if 'scaling' in axes:
        scaling_panel(axes['scaling'], runs)
    if note:
        fig.suptitle(note, color='tab:red')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def speedup_panel(axes, groups, bars):
    """Bars of micrograd's figure over each engine's, a group per (workload, metric)."""
    width = 0.8 / len(bars)
    for i, (name, pairs) in enumerate(bars.items()):
        drawn = axes.bar([g + (i - (len(bars) - 1) / 2) * width for g, _ in pairs],
                         [r for _, r in pairs], width, label=name, color=COLORS[name])
        axes.bar_label(drawn, labels=[number(r) for _, r in pairs], fontsize=6, rotation=90,
                       padding=2)
    axes.set_yscale('log')
    axes.axhline(1, color='black', linewidth=0.8)
    axes.set_xticks(range(len(groups)),
                    [f'{workload.name}\n' + textwrap.fill(metric.label, 16)
                     for workload, metric in groups], fontsize=7)
    axes.set_ylabel('micrograd / engine (times faster, or smaller)')
    axes.set_title('speedup over micrograd, per workload')
    axes.set_ylim(top=axes.get_ylim()[1] * 4)  # room for the labels above the bars
    axes.legend(fontsize=8, loc='upper left')


def scaling_panel(axes, runs):
    """Time per node against graph size, a line per engine, from the scaling workload."""
    for name, medians in runs.items():
        sizes = sorted(int(key.rsplit('_', 1)[1]) for key in medians if key.startswith('nodes_'))
        axes.plot([medians[f'nodes_{size}'] for size in sizes],
                  [medians[f'ns_per_node_{size}'] for size in sizes],
                  marker='o', label=name, color=COLORS[name])
    axes.set_xscale('log')
    axes.set_yscale('log')
    axes.set_xlabel("graph size (the engine's nodes)")
    axes.set_ylabel('forward + backward time per node (ns)')
    axes.set_title('time per node against graph size (flat: linear cost)')
    axes.legend(fontsize=8, loc='best')
