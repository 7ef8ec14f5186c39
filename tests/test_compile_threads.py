"""compile(..., threads=N): the dense kernels split over N threads give the one-thread
results to the bit, for every row count and width remainder, through training steps,
after a fork, from several Python threads at once; bad counts are refused."""
import gc
import os
import pickle
import signal

import pytest
from helpers import classifier, loss_of, run_in_threads

from microgradc import compile
from microgradc.optim import SGD

ROWS = [1, 2, 3, 5, 31, 32, 33]
THREADS = [2, 3, 4, 7]


@pytest.fixture(autouse=True)
def small_blocks_share_their_work(monkeypatch):
    """Blocks smaller than the grain run on one thread (csrc/tape.c, block_pool); these
    models are small, so the grain is set to 0 for them to be split."""
    monkeypatch.setenv("MICROGRADC_THREAD_GRAIN", "0")


def setup(rows, reg=0.0):
    """A classifier with odd widths, its loss (plus reg * L2) with the scores as extras."""
    model, X, one_hot = classifier(rows, nin=9, widths=(13, 5, 3))
    return model, loss_of(model, reg), X, one_hot


def train(threads, rows, reg=0.0, steps=3):
    """Losses, extras and parameter grads of each of `steps` SGD steps."""
    model, fn, X, one_hot = setup(rows, reg=reg)
    step = compile(fn, X, one_hot, threads=threads)
    opt = SGD(model.parameters(), lr=0.1)
    history = []
    for k in range(steps):
        opt.zero_grad()
        loss, scores = step(X + k, one_hot)
        history.append((loss, scores.tolist(), [p.grad for p in model.parameters()]))
        opt.step()
    return history, step


@pytest.mark.parametrize("reg", [0.0, 1e-3], ids=["no-l2", "l2-reads-the-weights"])
@pytest.mark.parametrize("rows", ROWS)
def test_every_thread_count_gives_the_bits_of_one_thread(rows, reg):
    one, step = train(1, rows, reg)
    assert step.dense_blocks >= 2 or rows == 1
    for threads in THREADS:
        assert train(threads, rows, reg)[0] == one, threads


def test_a_steps_thread_count_can_change_between_calls_with_the_same_results():
    model, fn, X, one_hot = setup(32)
    step = compile(fn, X, one_hot)
    assert step.threads == 1
    first = step(X, one_hot)
    for threads in (4, 2, 1, 3):
        step.threads = threads
        assert step.threads == threads
        for p in model.parameters():
            p.grad = 0.0
        loss, scores = step(X, one_hot)
        assert loss == first[0] and (scores == first[1]).all()


def test_a_lazy_step_gives_its_thread_count_to_every_shape_it_traces():
    _, fn, X, one_hot = setup(33)
    threaded, plain = compile(fn, threads=3), compile(fn)
    for rows in (33, 5, 32):
        loss, scores = threaded(X[:rows], one_hot[:rows])
        expected_loss, expected_scores = plain(X[:rows], one_hot[:rows])
        assert loss == expected_loss and scores.tolist() == expected_scores.tolist()
    assert threaded.traces == 3 and threaded.threads == 3


@pytest.mark.parametrize("bad, error", [
    (0, ValueError), (-1, ValueError), (257, ValueError),
    (1.5, TypeError), (True, TypeError), ("2", TypeError), (None, TypeError),
])
def test_a_thread_count_that_is_not_an_int_in_range_is_refused(bad, error):
    _, fn, X, one_hot = setup(4)
    with pytest.raises(error, match="threads must be"):
        compile(fn, X, one_hot, threads=bad)
    step = compile(fn, X, one_hot, threads=2)
    with pytest.raises(error, match="threads must be"):
        step.threads = bad
    assert step.threads == 2


def test_a_threaded_step_run_in_a_forked_child_gives_the_parents_bits():
    """The workers are not in the child: the step runs there on the calling thread."""
    _, fn, X, one_hot = setup(32)
    step = compile(fn, X, one_hot, threads=2)
    expected = step(X, one_hot)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        try:
            os.close(read)
            results = [step(X, one_hot) for _ in range(3)]
            step.threads = 3  # a new pool, made in the child
            results.append(step(X, one_hot))
            os.write(write, pickle.dumps([(loss, scores.tolist()) for loss, scores in results]))
            os._exit(0)
        except BaseException:  # noqa: BLE001 -- any failure is the child's exit status
            os._exit(1)
    os.close(write)
    with os.fdopen(read, 'rb') as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pickle.loads(data) == [(expected[0], expected[1].tolist())] * 4


def test_python_threads_calling_one_threaded_step_each_add_their_grads():
    model, fn, X, one_hot = setup(31)
    step = compile(fn, X, one_hot, threads=2)
    step(X, one_hot)
    once = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = 0.0
    assert run_in_threads(lambda t: step(X, one_hot), count=4) == []
    # four runs each adding the same grads: 4 * g, up to the order of the additions
    for p, g in zip(model.parameters(), once):
        assert abs(p.grad - 4 * g) <= 1e-12 * max(1.0, abs(4 * g))


def threads_of_this_process():
    return len(os.listdir('/proc/self/task'))


def test_dropped_threaded_steps_leave_no_threads_behind():
    _, fn, X, one_hot = setup(8)
    compile(fn, X, one_hot, threads=3)(X, one_hot)  # whatever a first use starts
    gc.collect()  # an earlier test's step left in a cycle would end its threads mid-count
    before = threads_of_this_process()
    for _ in range(30):
        step = compile(fn, X, one_hot, threads=3)
        step(X, one_hot)
        step.threads = 2
        del step
    assert threads_of_this_process() == before
