"""compile(fn, *example_arrays): trace a loss function once, then replay it in C.

    step = compile(loss_fn, X0, y0)   # runs loss_fn once, on input Values shaped like X0, y0
    loss = step(Xb, yb)               # forward and backward in C, no Python per node

Tracing freezes the graph: fn runs once, and any Python decision it takes on a
Value's .data (an if, a max, a sort) is taken then, with the example data, and
replayed as taken. Build the loss from ops (the engine's, dot, the losses),
not from Python branches on data, and every call computes what fn would.
"""
import numpy as np

from ._core import ffi, lib
from .engine import Value


def _numeric(array, index):
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"array {index} must hold real numbers, not {array.dtype}")
    return array


def _input_values(array):
    """Nested lists of new leaf Values shaped like array (a 0-d array gives one Value)."""
    if array.ndim == 0:
        return Value(float(array))
    return [_input_values(row) for row in array] if array.ndim > 1 else [Value(float(x)) for x in array]


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


def _leaves(values):
    """The Values of nested lists of Values, in order."""
    flat = []
    for v in values:
        flat.extend(_leaves(v) if isinstance(v, list) else [v])
    return flat


def compile(fn, *example_arrays):
    """Trace fn once on input Values shaped like example_arrays; return a CompiledStep.

    fn takes one nested list of Values per array and returns the loss Value, or
    (loss, extra) with extra a Value or nested lists of Values. fn may change the lists
    it is given; input i of a later call is the Value made for element i of the
    (flattened) arrays, wherever fn put it. Raises TypeError for a non-numeric array or
    a result that is not a Value; MemoryError if C ran out.
    """
    arrays = [_numeric(a, i) for i, a in enumerate(example_arrays)]
    inputs = [_input_values(a) for a in arrays]
    # taken before fn runs, which may change its lists: input i of a call is always the
    # Value made for element i, and this list owns each until the tape is built
    input_values = _leaves(inputs)
    result = fn(*inputs)
    loss, extra = result if isinstance(result, tuple) and len(result) == 2 else (result, None)
    if not isinstance(loss, Value):
        raise TypeError(f"fn must return a Value (or a Value and extras), not {type(loss).__name__}")
    extra_values, extra_shape = _flatten(extra) if extra is not None else ([], None)
    outputs = [loss._id] + [v._id for v in extra_values]
    input_ids = [v._id for v in input_values]
    tape = lib.mgc_tape_build(outputs, len(outputs), input_ids, len(input_ids))
    if tape == ffi.NULL:
        raise MemoryError("microgradc: out of memory compiling the graph")
    return CompiledStep(ffi.gc(tape, lib.mgc_tape_free), [a.shape for a in arrays], extra_shape)


class CompiledStep:
    """A traced loss function: call it with arrays shaped as the examples were.

    Each call runs forward and backward in C and adds the parameters' gradients into
    their .grad, as loss.backward() would; it returns the loss as a float, or
    (loss, extra as a numpy array) when fn returned extras. Calls from several threads
    are safe: the core runs them one at a time, each with its own result.
    """

    def __init__(self, tape, shapes, extra_shape):
        self._tape = tape
        self._shapes = shapes
        self._extra_shape = extra_shape
        self._output_count = 1 + (int(np.prod(extra_shape)) if extra_shape is not None else 0)

    @property
    def slots(self):
        """How many nodes the frozen program has."""
        return lib.mgc_tape_slots(self._tape)

    def __call__(self, *arrays):
        if len(arrays) != len(self._shapes):
            raise ValueError(f"expected {len(self._shapes)} arrays, got {len(arrays)}")
        flat = []
        for i, (array, shape) in enumerate(zip(arrays, self._shapes)):
            array = _numeric(array, i)
            if array.shape != shape:
                raise ValueError(f"array {i} must have shape {shape}, got {array.shape}")
            flat.append(array.astype(np.float64).ravel())
        inputs = np.concatenate(flat) if flat else np.empty(0)
        outputs = np.empty(self._output_count)  # each call its own: threads may share a step
        lib.mgc_tape_run(self._tape, ffi.from_buffer("double[]", inputs),
                         ffi.from_buffer("double[]", outputs))
        if self._extra_shape is None:
            return float(outputs[0])
        return float(outputs[0]), outputs[1:].reshape(self._extra_shape)

    def __reduce__(self):
        raise TypeError("a CompiledStep is a program in the C core and cannot be pickled or "
                        "copied: pickle the model (or its state_dict()) and call compile() "
                        "again after loading it")
