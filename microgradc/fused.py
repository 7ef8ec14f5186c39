"""Fused nodes: a neuron's sum as one node, dense layers built in one C call, a
stable softmax, and an embedding lookup whose row is a Value.

These are the engine primitives microgradc.nn and the examples are made of; each
gives the numbers micrograd's unfused graph would (softmax and logsumexp: torch's),
without a Python call per scalar.
"""
import operator

from ._core import ffi, lib
from .engine import Value, _node, _Operands, _packed_ids

ACTIVATIONS = {'relu': lib.MGC_RELU, 'tanh': lib.MGC_TANH, 'sigmoid': lib.MGC_SIGMOID,
               'linear': lib.MGC_LEAF}


def dot(ws, xs, bias=None):
    """bias + sum of ws[i] * xs[i] as one node (_op 'dot').

    Its value is bit-identical to micrograd's sum((wi*xi for wi, xi in zip(ws, xs)), bias)
    (a sum from 0 without a bias), its gradients those of that unfused graph. ws, xs and
    bias may hold Values or real numbers. Raises ValueError if ws and xs differ in length,
    TypeError for anything that is not a Value or a real number.
    """
    bias = () if bias is None else (bias,)
    with _Operands((ws, "a weight"), (xs, "an input"), (bias, "the bias")) as (w_ids, x_ids, b_ids):
        if len(w_ids) != len(x_ids):
            raise ValueError(f"dot needs as many weights as inputs, got {len(w_ids)} and {len(x_ids)}")
        return _node(lib.mgc_dot(w_ids, x_ids, len(w_ids), b_ids[0] if b_ids else 0))


def zero_grad(values):
    """Set the grad of every Value in values (any iterable of Values) to 0.0, in one C call.
    Raises TypeError for anything that is not a Value."""
    values = list(values)  # holds every Value until C is done with its id
    for v in values:
        if not isinstance(v, Value):
            raise TypeError(f"zero_grad needs Values, not {type(v).__name__}")
    lib.mgc_zero_grad([v._id for v in values], len(values))


class Dense:
    """Dense layers in sequence, built by one C call per input.

    parameters: every layer's neurons' weights then bias, in micrograd's parameters()
    order; sizes: the input width then each layer's width; activations: one name of
    ACTIVATIONS a layer. The parameters are fixed for the life of the Dense: it holds
    them, so the ids it hands C always have an owner. shape is (parameters, sizes,
    activations) as tuples. Raises ValueError when the parameters do not fit the sizes,
    TypeError when one is not a Value.
    """

    def __init__(self, parameters, sizes, activations):
        self._parameters = tuple(parameters)  # keeps their nodes alive for the ids below
        sizes = [int(n) for n in sizes]
        if len(sizes) != len(activations) + 1 or min(sizes) < 1:
            raise ValueError(f"Dense needs one size per layer plus the input width, each >= 1, "
                             f"got sizes {sizes} for {len(activations)} layers")
        expected = sum(nout * (nin + 1) for nin, nout in zip(sizes, sizes[1:]))
        if len(self._parameters) != expected:
            raise ValueError(f"layers of sizes {sizes} take {expected} parameters, "
                             f"got {len(self._parameters)}")
        packed = _packed_ids(list(self._parameters))
        if packed is None:
            for p in self._parameters:
                if not isinstance(p, Value):
                    raise TypeError(f"parameters must be Values, not {type(p).__name__}")
        self._ids = ffi.from_buffer("mgc_id[]", packed)
        self._list = _operand_list(self._ids, len(self._parameters))
        self.shape = (self._parameters, tuple(sizes), tuple(activations))
        self._sizes = ffi.new("uint32_t[]", sizes)
        self._activations = ffi.new("int[]", [ACTIVATIONS[a] for a in activations])
        self._layers = len(activations)
        self.nin, self.nout = sizes[0], sizes[-1]

    def __call__(self, x):
        """The last layer's outputs for inputs x (Values or real numbers), a list of Values."""
        out = ffi.new("mgc_id[]", self.nout)
        with _Operands((x, "an input")) as (x_ids,):
            if len(x_ids) != self.nin:
                raise ValueError(f"expected {self.nin} inputs, got {len(x_ids)}")
            status = lib.mgc_mlp(self._list, self._sizes, self._activations, self._layers, x_ids, out)
        if status:
            raise MemoryError("microgradc: out of memory building a layer")
        return [_node(i) for i in out]

    def zero_grad(self):
        """Set every parameter's grad to 0.0, in one C call."""
        lib.mgc_zero_grad(self._ids, len(self._parameters))


def _operand_list(ids, count):
    """The C operand list of a layer's parameters (ids, a C array): held once for all
    the layer's calls, whose dots read runs of it; freed with the layer."""
    operands = lib.mgc_operands_new(ids, count)
    if operands == ffi.NULL:
        raise MemoryError("microgradc: out of memory for a layer's parameters")
    return ffi.gc(operands, lib.mgc_operands_free)


def _ids_out(status, ids, what):
    if status:
        raise MemoryError(f"microgradc: out of memory building {what}")
    return [_node(i) for i in ids]


def logsumexp(values):
    """log(sum of exp(v) for v in values) as one node (_op 'logsumexp'), computed as
    torch.logsumexp does: shifted by the max, so no logit overflows. The max is part of
    the node, not a number read from .data, so a compiled step recomputes it. Raises
    ValueError for no values."""
    with _Operands((values, "a value")) as (ids,):
        if not ids:
            raise ValueError("logsumexp of nothing")
        return _node(lib.mgc_logsumexp(ids, len(ids)))


def softmax(values):
    """softmax(values) as a list of Values, torch's stable softmax built in one C call:
    m = max(values) (a node, _op 'shift', which passes no gradient on: the softmax does
    not depend on it), d[i] = v[i] - m, and out[i] = exp(d[i] - logsumexp(d)) (_op
    'softmax'). Right to the last bits for logits of any size, in O(len(values)) nodes
    and work; the shift is in the graph, not read from .data, so a compiled step
    recomputes it for every input. Raises ValueError for no values."""
    with _Operands((values, "a value")) as (ids,):
        if not ids:
            raise ValueError("softmax of nothing")
        out = ffi.new("mgc_id[]", len(ids))
        return _ids_out(lib.mgc_softmax(ids, len(ids), out), out, "a softmax")


def embedding(table, index):
    """Row `index` of table (a list of equal-length rows of Values or numbers), as a list.

    index an int: the row's own Values, as table[index] (nothing is made). index a Value
    holding a row number: one node per column (_op 'select') that reads the row the
    index holds whenever the graph runs, so a compiled step whose token ids are inputs
    looks up each call's rows; the gradient goes to that row alone. Raises IndexError
    for a row that is not in the table, TypeError for an index that is neither.
    """
    rows = [list(row) for row in table]
    if not rows or not rows[0] or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("embedding needs a table of equal-length, nonempty rows")
    if not isinstance(index, Value):
        if isinstance(index, bool) or not hasattr(index, '__index__'):
            raise TypeError(f"an embedding index must be an int or a Value, not "
                            f"{type(index).__name__}")
        k = operator.index(index)
        if not 0 <= k < len(rows):
            raise IndexError(f"embedding row {k} is not in a table of {len(rows)} rows")
        return rows[k]
    k = lib.mgc_data(index._id)  # a check, not a decision a trace freezes
    if not (0 <= k < len(rows) and k == int(k)):
        raise IndexError(f"embedding index {k} is not a row of a table of {len(rows)} rows")
    cols = len(rows[0])
    with _Operands(((v for row in rows for v in row), "a table entry")) as (ids,):
        out = ffi.new("mgc_id[]", cols)
        return _ids_out(lib.mgc_select(ids, len(rows), cols, index._id, out), out,
                        "an embedding lookup")


def select(values, index):
    """values[index] for an int index; for a Value index, one node (_op 'select') that
    reads the entry the index holds whenever the graph runs, as embedding does for a
    row: the target of a loss whose labels are inputs of a compiled step. Raises
    IndexError for an index that is not in values."""
    return embedding([[v] for v in values], index)[0]


class Linear:
    """A layer without biases over fixed weight rows: out[j] = dot(weights[j], x), as
    microgpt's linear(x, w), built by one C call per input.

    weights: a list of rows of Values, all of one length; the Linear holds them, so the
    ids it hands C always have an owner. Raises ValueError for ragged or empty rows,
    TypeError for a weight that is not a Value.
    """

    def __init__(self, weights):
        self.weights = tuple(tuple(row) for row in weights)
        if not self.weights or not self.weights[0] or any(
                len(row) != len(self.weights[0]) for row in self.weights):
            raise ValueError("Linear needs equal-length, nonempty weight rows")
        for row in self.weights:
            for w in row:
                if not isinstance(w, Value):
                    raise TypeError(f"weights must be Values, not {type(w).__name__}")
        self.nout, self.nin = len(self.weights), len(self.weights[0])
        self._ids = ffi.new("mgc_id[]", [w._id for row in self.weights for w in row])
        self._list = _operand_list(self._ids, len(self._ids))

    def __call__(self, x):
        """[dot(row, x) for row in weights] for inputs x (Values or real numbers)."""
        out = ffi.new("mgc_id[]", self.nout)
        with _Operands((x, "an input")) as (x_ids,):
            if len(x_ids) != self.nin:
                raise ValueError(f"expected {self.nin} inputs, got {len(x_ids)}")
            status = lib.mgc_linear(self._list, self.nout, self.nin, x_ids, out)
        return _ids_out(status, out, "a layer")
