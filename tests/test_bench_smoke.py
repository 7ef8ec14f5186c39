"""The benchmark suite's outputs, not its timings: one cheap workload, one repeat.

A few seconds each: the deep chain at --quick size, with PyTorch made to look
missing; microgpt's step at --quick size (2-letter names).
"""
import dataclasses
import json

from bench import engines
from bench.__main__ import main


def test_bench_writes_table_json_and_chart_and_reports_a_missing_engine_with_its_install_command(
        tmp_path, monkeypatch, capsys):
    hidden = tuple(dataclasses.replace(engine, modules=('no_such_module',))
                   if engine.name == 'torch' else engine for engine in engines.ENGINES)
    monkeypatch.setattr(engines, 'ENGINES', hidden)

    main(['--quick', '--only', 'chain', '--repeats', '1', '--out', str(tmp_path)])

    out = capsys.readouterr().out
    assert 'deep chain' in out
    assert 'torch is missing' in out and 'pip install torch==2.13.0' in out
    results = json.loads((tmp_path / 'results.json').read_text())
    assert {engine['name'] for engine in results['engines']} == {
        'micrograd', 'drop-in', 'nn', 'compiled', 'torch'}
    chain = results['workloads']['chain']
    assert set(chain['samples']) == {'micrograd', 'drop-in'}  # the engines with chain code
    assert chain['medians']['micrograd']['backward_s'].startswith('RecursionError')
    assert chain['medians']['drop-in']['backward_s'] > 0
    assert 'load_average_1min_start' in results['machine']
    assert (tmp_path / 'speedup.png').read_bytes().startswith(b'\x89PNG')


def test_bench_times_a_microgpt_step_on_micrograd_and_drop_in(tmp_path, capsys):
    main(['--quick', '--only', 'gpt', '--repeats', '1', '--out', str(tmp_path)])

    assert 'microgpt step' in capsys.readouterr().out
    gpt = json.loads((tmp_path / 'results.json').read_text())['workloads']['gpt']
    assert set(gpt['samples']) == {'micrograd', 'drop-in'}  # the engines with gpt code
    assert gpt['medians']['micrograd']['step_s'] > 0
    assert gpt['medians']['drop-in']['step_s'] > 0
