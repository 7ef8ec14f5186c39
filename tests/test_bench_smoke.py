"""The benchmark suite's outputs, not its timings: cheap workloads, one repeat.

A few seconds each: the deep chain at --quick size, with PyTorch made to look
missing; microgpt's step at --quick size (2-letter names). The chart and the
progress report are checked on made-up figures and made-up workloads.
"""
import dataclasses
import json
import sys
import time

import pytest

from bench import engines, report, timing
from bench.__main__ import main, run_kind
from bench.timing import Metric, Workload

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def png_width(path):
    """The width in pixels of a PNG, from its header."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    return int.from_bytes(data[16:20], 'big')


def test_bench_writes_table_and_json_and_reports_a_missing_engine_with_its_install_command(
        tmp_path, monkeypatch, capsys):
    hidden = tuple(dataclasses.replace(engine, modules=('no_such_module',))
                   if engine.name == 'torch' else engine for engine in engines.ENGINES)
    monkeypatch.setattr(engines, 'ENGINES', hidden)

    main(['--quick', '--only', 'chain', '--repeats', '1', '--out', str(tmp_path)])

    out = capsys.readouterr().out
    assert 'deep chain' in out
    assert 'torch is missing' in out and 'pip install "torch>=2.13"' in out
    results = json.loads((tmp_path / 'results.json').read_text())
    assert {engine['name'] for engine in results['engines']} == {
        'micrograd', 'drop-in', 'nn', 'compiled', 'torch', 'compiled-threads', 'torch-threads',
        'limit'}
    chain = results['workloads']['chain']
    assert set(chain['samples']) == {'micrograd', 'drop-in'}  # the engines with chain code
    assert chain['medians']['micrograd']['backward_s'].startswith('RecursionError')
    assert chain['medians']['drop-in']['backward_s'] > 0
    assert 'load_average_1min_start' in results['machine']
    # the chain has no figure on the chart: no chart, rather than empty panels
    assert not (tmp_path / 'speedup.png').exists()
    assert 'no chart' in out


def test_bench_times_a_microgpt_step_on_every_engine_with_gpt_code_and_charts_only_its_speedup(
        tmp_path, capsys):
    main(['--quick', '--only', 'gpt', '--repeats', '1', '--out', str(tmp_path)])

    assert 'microgpt step' in capsys.readouterr().out
    gpt = json.loads((tmp_path / 'results.json').read_text())['workloads']['gpt']
    engines = {'micrograd', 'drop-in', 'nn', 'compiled', 'torch'}  # the engines with gpt code
    assert set(gpt['samples']) == engines
    assert all(gpt['medians'][engine]['step_s'] > 0 for engine in engines)
    assert gpt['medians']['compiled']['compile_s'] > 0
    assert png_width(tmp_path / 'speedup.png') == 924  # the speedup panel alone, 8.4 in at 110 dpi


def test_a_quick_or_partial_run_says_so_in_its_heading(tmp_path, capsys):
    main(['--quick', '--only', 'chain', '--repeats', '1', '--out', str(tmp_path)])

    heading = capsys.readouterr().out.splitlines()[0]
    assert 'QUICK run' in heading and 'PARTIAL run (--only chain)' in heading
    assert 'full run' not in heading
    settings = json.loads((tmp_path / 'results.json').read_text())['settings']
    assert settings['run'] == 'quick-only-chain-1-repeats'


def test_each_kind_of_run_has_its_own_results_folder_so_a_quick_run_keeps_a_full_ones(
        tmp_path, monkeypatch, capsys):
    assert run_kind(quick=False, only=None, repeats=7) == 'full'
    assert run_kind(quick=True, only=None, repeats=2) == 'quick'
    assert run_kind(quick=False, only=['digits', 'moons'], repeats=7) == 'only-moons-digits'
    assert run_kind(quick=False, only=None, repeats=3) == '3-repeats'

    monkeypatch.chdir(tmp_path)
    full = tmp_path / 'bench-results' / 'full'
    full.mkdir(parents=True)
    (full / 'results.json').write_text('a full run')
    main(['--quick', '--only', 'chain'])

    assert (full / 'results.json').read_text() == 'a full run'
    assert (tmp_path / 'bench-results' / 'quick-only-chain' / 'results.json').exists()
    assert 'bench-results/quick-only-chain/results.json' in capsys.readouterr().out


def test_bench_without_matplotlib_or_sklearn_names_the_extra_before_running_anything(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'sklearn', None)  # find_spec('sklearn') is None now

    with pytest.raises(SystemExit) as stop:
        main(['--quick', '--only', 'moons', '--out', str(tmp_path / 'out')])

    assert 'scikit-learn' in str(stop.value) and 'pip install -e ".[bench]"' in str(stop.value)
    assert 'preparing' not in capsys.readouterr().err  # checked before the run starts
    assert not (tmp_path / 'out').exists()


def test_the_chart_draws_only_the_panels_of_what_ran(tmp_path):
    present = [dataclasses.replace(engine, missing='') for engine in engines.ENGINES]
    moons = Workload('moons', 'moons', [Metric('step_s', 'step (ms)', chart=True)], {})
    scaling = Workload('scaling', 'scaling', [Metric('ns_per_node_10', '10 ops', ratios=False)], {})
    step = {'micrograd': {'step_s': 1.0}, 'drop-in': {'step_s': 0.01}}
    sizes = {'drop-in': {'nodes_10': 10, 'ns_per_node_10': 500.0,
                         'nodes_100': 100, 'ns_per_node_100': 450.0}}

    assert report.chart(tmp_path / 'both.png', [moons, scaling], present,
                        {'moons': step, 'scaling': sizes})
    assert report.chart(tmp_path / 'speedup.png', [moons], present, {'moons': step}, 'PARTIAL')
    assert report.chart(tmp_path / 'scaling.png', [scaling], present, {'scaling': sizes})
    assert [png_width(tmp_path / name) for name in ('both.png', 'speedup.png', 'scaling.png')] == [
        1540, 924, 616]  # 14 in, 8.4 in and 5.6 in at 110 dpi
    no_micrograd = {'moons': {'drop-in': {'step_s': 0.01}}}
    assert not report.chart(tmp_path / 'none.png', [moons], present, no_micrograd)
    assert not (tmp_path / 'none.png').exists()


def test_the_runner_reports_a_long_sample_while_it_runs_and_what_is_left_of_the_run(monkeypatch):
    monkeypatch.setattr(timing, 'TICK_SECONDS', 0.05)
    sleeper = Workload('nap', 'a nap', [], {'drop-in': lambda: time.sleep(0.5) or {},
                                            'nn': dict})
    present = [dataclasses.replace(engine, missing='') for engine in engines.ENGINES]
    messages = []

    samples = timing.run([sleeper], present, 2, messages.append)

    assert samples == {'nap': {'drop-in': [{}, {}], 'nn': [{}, {}]}}
    starts = [m for m in messages if 'still on' not in m]
    assert len(starts) == 4  # two engines, two repeats
    assert starts[0].endswith('2 of 2 workload-engine pairs not yet timed')
    assert 'about' in starts[2] and 'not yet timed' not in starts[2]  # the second repeat
    for repeat in (1, 2):  # the 0.5 s sample is reported while it runs, in each repeat
        ticks = [m for m in messages if f'still on repeat {repeat}/2: nap, drop-in' in m]
        assert ticks and all('s into this sample; ' in m for m in ticks)
    assert 'about' in ticks[-1] and ' left' in ticks[-1]  # by then every pair was timed


def test_the_larger_mlp_runs_on_every_engine_but_micrograd_whose_cell_says_why(tmp_path, capsys):
    main(['--quick', '--only', 'large', '--repeats', '1', '--out', str(tmp_path)])

    large = json.loads((tmp_path / 'results.json').read_text())['workloads']['large']['medians']
    assert large['micrograd']['step_s'].startswith('not run')
    for engine in ('drop-in', 'nn', 'compiled', 'torch', 'compiled-threads', 'torch-threads',
                   'limit'):
        assert large[engine]['step_s'] > 0, engine
    out = capsys.readouterr().out
    assert 'not run: ~10 min a step' in out and 'limit / this' in out
