"""examples/gpt.py against microgpt's own scalar Value (bench.gpt.MicrogptValue, plain
Python): the same loss at the first step, the same trajectory over 50 steps, eager and
compiled; the compiled step's per-length traces; and the command line."""
import math
import random
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import mismatches, settled_live_nodes

import microgradc as mg
from bench.gpt import MicrogptValue, microgpt
from examples import gpt

ROOT = Path(__file__).resolve().parents[1]
SEED = 3


def example_losses(docs, steps, compiled):
    tokenizer = gpt.Tokenizer(docs)
    model = gpt.GPT(tokenizer.vocab_size, SEED)
    step = gpt.trainer(model, tokenizer, docs, 1000, compiled=compiled)
    return [step(k) for k in range(steps)]


@pytest.fixture(scope='module')
def short_names():
    """50 names of at most 4 letters from the default data: microgpt's Value takes about
    0.1 s a step on them."""
    return [doc for doc in gpt.load_docs() if len(doc) <= 4][:50]


@pytest.fixture(scope='module')
def scalar_trajectory(short_names):
    step, _ = microgpt(MicrogptValue, short_names, seed=SEED)
    return [step(k) for k in range(50)]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_the_first_loss_on_the_longest_names_equals_microgpts_scalar_value(compiled):
    docs = sorted(gpt.load_docs(), key=len)[-3:]  # 11 letters: 12 positions
    step, _ = microgpt(MicrogptValue, docs, seed=SEED)
    expected = step(0)
    assert math.isclose(example_losses(docs, 1, compiled)[0], expected, rel_tol=1e-12)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_fifty_steps_follow_microgpts_scalar_value_to_1e_9(short_names, scalar_trajectory,
                                                           compiled):
    ours = example_losses(short_names, 50, compiled)
    assert math.isclose(ours[0], scalar_trajectory[0], rel_tol=1e-12)
    assert not mismatches(ours, scalar_trajectory, rel_tol=1e-9)
    assert np.mean(ours[-10:]) < ours[0]  # and it learns


def test_a_compiled_step_traces_once_per_length_and_matches_eager_for_lengths_1_to_16():
    docs = gpt.load_docs()
    tokenizer = gpt.Tokenizer(docs)
    model = gpt.GPT(tokenizer.vocab_size, SEED)
    traced = mg.compile(model.loss)
    rng = random.Random(SEED)
    sequences = [[rng.randrange(tokenizer.vocab_size) for _ in range(n + 1)] for n in range(1, 17)]
    for round_ in range(2):
        for tokens in sequences:
            model_zero_grad(model)
            got = traced(np.array(tokens, dtype=np.float64))
            compiled_grads = [p.grad for p in model.params]
            model_zero_grad(model)
            eager = model.loss(tokens)
            eager.backward()
            assert got == eager.data  # forward: the eager sums, in the eager order
            assert not mismatches(compiled_grads, [p.grad for p in model.params],
                                  rel_tol=1e-12, abs_tol=1e-15)
        assert traced.traces == 16  # one a length, made in the first round only


def model_zero_grad(model):
    for p in model.params:
        p.grad = 0.0


def test_tracing_the_gpt_loss_reads_no_data_and_so_never_warns():
    docs = gpt.load_docs()[:100]
    tokenizer = gpt.Tokenizer(docs)
    model = gpt.GPT(tokenizer.vocab_size, SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step = gpt.trainer(model, tokenizer, docs, 100, compiled=True)
        for k in range(20):
            step(k)
    assert step.traced.traces >= 2


def test_a_microgpt_softmax_that_shifts_by_a_data_max_warns_once_naming_its_line():
    weights = [mg.Value(w) for w in (0.5, -1.0, 2.0)]

    def loss(z):
        logits = [zi * w for zi, w in zip(z, weights)]
        max_val = max(val.data for val in logits)  # microgpt's shift: frozen by a trace
        exps = [(val - max_val).exp() for val in logits]
        total = sum(exps)
        return -(exps[0] / total).log()

    with pytest.warns(mg.TracerWarning) as caught:
        mg.compile(loss, np.zeros(3))
    lines = {(Path(w.filename).name, w.lineno) for w in caught}
    source = Path(__file__).read_text().splitlines()
    assert len(lines) == 1
    (name, lineno), = lines
    assert name == Path(__file__).name and "max_val = max(" in source[lineno - 1]


def test_training_keeps_live_nodes_flat_eager_and_compiled():
    docs = [doc for doc in gpt.load_docs() if len(doc) == 5][:40]  # one length: one trace
    for compiled in (False, True):
        tokenizer = gpt.Tokenizer(docs)
        model = gpt.GPT(tokenizer.vocab_size, SEED)
        step = gpt.trainer(model, tokenizer, docs, 1000, compiled=compiled)
        for k in range(10):
            step(k)
        before = settled_live_nodes()
        for k in range(10, 40):
            step(k)
        assert settled_live_nodes() == before


# ---------------------------------------------------------------- the command line

LAST_LINE = re.compile(r"^20 steps in \d+\.\d+ s, mean loss of the last 100 steps (\d+\.\d+)$",
                       re.MULTILINE)


def run_example(*arguments):
    return subprocess.run([sys.executable, '-m', 'examples.gpt', *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("compiled", [[], ['--compiled']], ids=["eager", "compiled"])
def test_twenty_steps_end_with_the_line_then_twenty_samples_and_the_loss_curve(tmp_path, compiled):
    run = run_example('--steps', '20', '--out', str(tmp_path), *compiled)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    found = LAST_LINE.search(run.stdout)
    assert found and 2.0 < float(found.group(1)) < 3.5  # near ln(27) = 3.3 this early
    samples = lines[lines.index(found.group(0)) + 1]
    assert samples.startswith('samples: ') and len(samples.split()) == 21
    name = 'gpt-compiled-loss.png' if compiled else 'gpt-loss.png'
    assert (tmp_path / name).read_bytes().startswith(b'\x89PNG\r\n\x1a\n')


def test_data_from_a_file_and_a_seed_are_used(tmp_path):
    data = tmp_path / 'words.txt'
    data.write_text('abab\nbaba\n\naabb\n')
    run = run_example('--steps', '20', '--data', str(data), '--seed', '7', '--out', str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert '3 names, vocabulary 3' in run.stdout
    samples = run.stdout.splitlines()[-2]
    assert set(''.join(samples.split()[1:])) <= {'a', 'b'}


@pytest.mark.parametrize("arguments, message", [
    (['--steps', '0'], '--steps must be at least 1'),
    (['--data', '{empty}'], 'has no names in it'),
])
def test_bad_arguments_exit_with_a_message_naming_them(tmp_path, arguments, message):
    empty = tmp_path / 'empty.txt'
    empty.write_text('\n\n')
    run = run_example(*[a.format(empty=empty) for a in arguments], '--out', str(tmp_path))
    assert run.returncode != 0 and message in run.stderr
