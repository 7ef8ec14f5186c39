"""compile(fn, *example_arrays): trace a loss function once, then replay it in C.

    step = compile(loss_fn, X0, y0)   # runs loss_fn once, on input Values shaped like X0, y0
    loss = step(Xb, yb)               # forward and backward in C, no Python per node

Tracing freezes the graph: fn runs once, and any Python decision it takes on a
Value's .data (an if, a max, a sort) is taken then, with the example data, and
replayed as taken. Build the loss from ops (the engine's, dot, the losses),
not from Python branches on data, and every call computes what fn would. While
fn is traced, reading .data of an input or of a Value computed in fn warns
(TracerWarning, once per line of code), as torch.jit.trace warns.
"""
import numbers
import threading
import warnings

import numpy as np

from ._core import ffi, lib
from .engine import Value, _packed_ids, _take_all
from .watched import generation


def _numeric(array, index):
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"array {index} must hold real numbers, not {array.dtype}")
    return array


def _input_values(array):
    """New leaf Values holding array's numbers, made by one C call: (nested lists of
    them shaped like array, or one Value for a 0-d array; the same Values in order)."""
    numbers = np.ascontiguousarray(array, dtype=np.float64).ravel()
    ids = ffi.new("mgc_id[]", max(len(numbers), 1))
    if lib.mgc_leaves(ffi.from_buffer("double[]", numbers), len(numbers), ids):
        raise MemoryError("microgradc: out of memory for the input leaves")
    leaves = _take_all(ffi.buffer(ids, len(numbers) * ffi.sizeof("mgc_id"))[:])  # each owns its id
    if array.ndim == 0:
        return leaves[0], leaves
    return _nested(leaves, array.shape), leaves


def _nested(flat, shape):
    """flat (a list, row-major) as nested lists of that shape, by slicing."""
    if len(shape) == 1:
        return flat
    inner = int(np.prod(shape[1:]))
    return [_nested(flat[i * inner:(i + 1) * inner], shape[1:]) for i in range(shape[0])]


def _flatten(extra):
    """The Values of a Value or nested lists of Values, in order, and the nesting's shape."""
    if isinstance(extra, Value):
        return [extra], ()
    if not isinstance(extra, (list, tuple)):
        raise TypeError(f"extra outputs must be Values or nested lists of Values, "
                        f"not {type(extra).__name__}")
    flat, shapes = [], set()
    for item in extra:
        values, shape = _flatten(item)
        flat.extend(values)
        shapes.add(shape)
    if len(shapes) > 1:
        raise ValueError("extra outputs must be nested lists of one shape")
    return flat, (len(extra),) + (shapes.pop() if shapes else ())


MAX_THREADS = 256


def compile(fn, *example_arrays, threads=1):
    """Trace fn once on input Values shaped like example_arrays; return a CompiledStep,
    which takes arrays of those shapes only.

    Without example arrays, fn is traced at the first call, on that call's arrays, and
    again the first time each new combination of shapes comes (a sequence of another
    length, a smaller last minibatch): one program per shape signature, kept for the
    life of the step. Each costs about 34 bytes a node of its graph plus 4 bytes an edge
    (a layer's weights count once, and each row's inputs once, however many neurons
    read them), and holds the parameters it reads; `traces` counts them.

    fn takes one nested list of Values per array and returns the loss Value, or
    (loss, extra) with extra a Value or nested lists of Values. fn may change the lists
    it is given; input i of a later call is the Value made for element i of the
    (flattened) arrays, wherever fn put it. Raises TypeError for a non-numeric array or
    a result that is not a Value; MemoryError if C ran out.

    threads: how many threads run the dense layers' kernels (a layer applied to many
    rows, such as a minibatch), split by rows or by neurons; the other ops run on the
    caller's. Every number is computed by one thread in the order one thread would
    use, so the results have the same bits for any count. A layer smaller than about
    four million multiply-adds a pass (rows x inputs x neurons) runs on the calling
    thread, where handing its parts over would cost more than it saves.
    step.threads changes the count later. After a fork, a step runs in the child on
    the calling thread alone.
    """
    threads = _thread_count(threads)
    if not example_arrays:
        return CompiledStep(fn, None, threads)
    arrays = [_numeric(a, i).copy() for i, a in enumerate(example_arrays)]
    return CompiledStep(fn, arrays, threads)


def _thread_count(threads):
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"threads must be an int, not {type(threads).__name__}")
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be in [1, {MAX_THREADS}], got {threads}")
    return int(threads)


def _set_threads(tape, threads):
    if lib.mgc_tape_set_threads(tape, threads):
        raise MemoryError(f"microgradc: could not start {threads - 1} worker threads")


class TracerWarning(UserWarning):
    """fn read a number that a compiled step will not recompute: the decision it fed
    (an if, a max, a sort) is frozen as the trace took it, with the example data."""


_tracing = threading.local()  # .inputs: the _InputIds of the trace under way


class _InputIds:
    """The node ids of a trace's inputs and of the traces it runs in, packed as C gives
    them; a set is made of them the first time one is looked up (most traces never
    read .data, and a set of a minibatch's ids costs more than the rest of a small
    trace)."""
    __slots__ = ('_packed', '_outer', '_set')

    def __init__(self, packed, outer):
        self._packed, self._outer, self._set = packed, outer, None

    def __contains__(self, node_id):
        if self._set is None:
            self._set = frozenset(np.frombuffer(self._packed, dtype=np.uint32).tolist())
        return node_id in self._set or (self._outer is not None and node_id in self._outer)


def _data_while_tracing(value):
    """Value.data while fn is traced: the number, with a TracerWarning if it comes from
    the inputs or from an op. A parameter's (a leaf that is not an input) does not warn,
    though a decision taken on it is frozen all the same."""
    node_id = value._id
    inputs = getattr(_tracing, 'inputs', None)
    if inputs is not None and (lib.mgc_op(node_id) != lib.MGC_LEAF or node_id in inputs):
        warnings.warn(TracerWarning(
            "reading .data while compile() traces: a compiled step replays the decision "
            "this number feeds as the trace took it, with the example data, on every call"),
            stacklevel=2)
    return lib.mgc_data(node_id)


_PLAIN_DATA = Value.__dict__['data']
_TRACING_DATA = property(_data_while_tracing, _PLAIN_DATA.fset, doc=_PLAIN_DATA.__doc__)
_traces_under_way = [0]  # in all threads: Value.data is _TRACING_DATA while it is not 0
_traces_lock = threading.Lock()


def _traced_call(fn, inputs, input_ids):
    """fn(*inputs), input_ids the inputs' ids packed (engine._packed_ids), with Value.data
    warning as _data_while_tracing says (outside a trace, in this thread or another, it
    reads as ever, without a warning)."""
    outer = getattr(_tracing, 'inputs', None)
    _tracing.inputs = _InputIds(input_ids, outer)
    with _traces_lock:
        _traces_under_way[0] += 1
        Value.data = _TRACING_DATA
    try:
        return fn(*inputs)
    finally:
        _tracing.inputs = outer
        with _traces_lock:
            _traces_under_way[0] -= 1
            if not _traces_under_way[0]:
                Value.data = _PLAIN_DATA


def _trace(fn, arrays):
    """fn traced on new input Values holding arrays' numbers: (tape, extra shape)."""
    made = [_input_values(a) for a in arrays]
    inputs = [nested for nested, _ in made]
    # taken before fn runs, which may change its lists: input i of a call is always the
    # Value made for element i, and this list owns each until the tape is built
    input_values = [v for _, flat in made for v in flat]
    input_ids = _packed_ids(input_values)
    result = _traced_call(fn, inputs, input_ids)
    loss, extra = result if isinstance(result, tuple) and len(result) == 2 else (result, None)
    if not isinstance(loss, Value):
        raise TypeError(f"fn must return a Value (or a Value and extras), not {type(loss).__name__}")
    extra_values, extra_shape = _flatten(extra) if extra is not None else ([], None)
    outputs = [loss._id] + [v._id for v in extra_values]
    tape = lib.mgc_tape_build(outputs, len(outputs), ffi.from_buffer("mgc_id[]", input_ids),
                              len(input_values))
    if tape == ffi.NULL:
        raise MemoryError("microgradc: out of memory compiling the graph")
    tape = ffi.gc(tape, lib.mgc_tape_free)
    if lib.mgc_tape_python_ops(tape):
        raise TypeError("compile() cannot replay an op defined in Python (a Value made with "
                        "_children, or one given a _backward): C cannot rerun its forward or "
                        "its rule. Run fn eagerly, or write the op with microgradc's ops")
    return tape, extra_shape


class CompiledStep:
    """A traced loss function: call it with arrays shaped as the examples were.

    Each call runs forward and backward in C and adds the parameters' gradients into
    their .grad, as loss.backward() would; it returns the loss as a float, or
    (loss, extra as a numpy array) when fn returned extras. Calls from several threads
    are safe: the core runs them one at a time, each with its own result.

    The tape holds the parameters it was traced with. When a watched list of a model
    (neuron.w, layer.neurons, mlp.layers, ...) or a model's attribute has changed since,
    the next call traces fn again on the example arrays, so a weight or a layer set by
    hand is used, as the eager graph would use it.
    """

    def __init__(self, fn, arrays, threads=1):
        """arrays: the example arrays (the step takes their shapes only), or None: traced
        per shape signature, as calls come. threads: see compile()."""
        self._fn, self._fixed, self._threads = fn, arrays is not None, threads
        self._traces = {}  # shape signature -> (example arrays, trace)
        self._last = None  # the signature of the last trace made or used
        if self._fixed:
            self._shapes = [a.shape for a in arrays]
            self._retrace(tuple(self._shapes), arrays)

    def _retrace(self, signature, arrays):
        """Trace fn (again) for this signature; the trace is one tuple, so a call in
        another thread reads all of one trace or all of the other, never a mix."""
        traced_at = generation()  # read first: a change made while tracing is seen next call
        tape, extra_shape = _trace(self._fn, arrays)
        if self._threads > 1:
            _set_threads(tape, self._threads)
        output_count = 1 + (int(np.prod(extra_shape)) if extra_shape is not None else 0)
        traced = (traced_at, tape, extra_shape, output_count)
        self._traces[signature] = (arrays, traced)
        self._last = signature
        return traced

    def _trace_of(self, attribute):
        if self._last is None:
            raise ValueError(f"{attribute}: this step has not been traced yet (call it first)")
        return self._traces[self._last][1][1]

    @property
    def slots(self):
        """How many nodes the frozen program has (the last one traced or run)."""
        return lib.mgc_tape_slots(self._trace_of("slots"))

    @property
    def dense_blocks(self):
        """How many layers the program runs a row at a time, as dense kernels: a layer
        (the same weights) applied to several rows, such as a minibatch."""
        return lib.mgc_tape_dense_blocks(self._trace_of("dense_blocks"))

    @property
    def threads(self):
        """How many threads run the dense kernels of every program of this step (see
        compile()); set it to change them, with the same results to the bit."""
        return self._threads

    @threads.setter
    def threads(self, threads):
        threads = _thread_count(threads)
        for _, traced in list(self._traces.values()):
            _set_threads(traced[1], threads)
        self._threads = threads

    @property
    def traces(self):
        """How many programs the step keeps: one per shape signature it was called with."""
        return len(self._traces)

    def __call__(self, *arrays):
        if self._fixed and len(arrays) != len(self._shapes):
            raise ValueError(f"expected {len(self._shapes)} arrays, got {len(arrays)}")
        arrays = [_numeric(array, i) for i, array in enumerate(arrays)]
        if self._fixed:
            for i, (array, shape) in enumerate(zip(arrays, self._shapes)):
                if array.shape != shape:
                    raise ValueError(f"array {i} must have shape {shape}, got {array.shape}")
        signature = tuple(array.shape for array in arrays)
        known = self._traces.get(signature)
        if known is None:  # a new signature: trace on a copy of this call's arrays
            examples = [array.copy() for array in arrays]
            traced = self._retrace(signature, examples)
        else:
            examples, traced = known
            self._last = signature
        # one copy, taken now: the run reads this, whatever happens to the arrays meanwhile
        inputs = np.concatenate([array.ravel() for array in arrays], dtype=np.float64) \
            if arrays else np.empty(0)
        traced_at, tape, extra_shape, output_count = traced
        if traced_at != generation():
            traced_at, tape, extra_shape, output_count = self._retrace(signature, examples)
        outputs = np.empty(output_count)  # each call its own: threads may share a step
        if lib.mgc_tape_run(tape, ffi.from_buffer("double[]", inputs),
                            ffi.from_buffer("double[]", outputs)):
            raise IndexError("an embedding index among the inputs is not a row of its "
                             "table (an integer in [0, rows)); no gradient was added")
        if extra_shape is None:
            return float(outputs[0])
        return float(outputs[0]), outputs[1:].reshape(extra_shape)

    def __reduce__(self):
        raise TypeError("a CompiledStep is a program in the C core and cannot be pickled or "
                        "copied: pickle the model (or its state_dict()) and call compile() "
                        "again after loading it")
