"""Fused nodes: a neuron's sum as one node, dense layers built in one C call.

These are the engine primitives microgradc.nn is made of; each gives the
numbers micrograd's unfused graph would, without a Python call per scalar.
"""
from ._core import ffi, lib
from .engine import Value, _node, _Operands

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
        for p in self._parameters:
            if not isinstance(p, Value):
                raise TypeError(f"parameters must be Values, not {type(p).__name__}")
        self._ids = ffi.new("mgc_id[]", [p._id for p in self._parameters])
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
            status = lib.mgc_mlp(self._ids, self._sizes, self._activations, self._layers, x_ids, out)
        if status:
            raise MemoryError("microgradc: out of memory building a layer")
        return [_node(i) for i in out]

    def zero_grad(self):
        """Set every parameter's grad to 0.0, in one C call."""
        lib.mgc_zero_grad(self._ids, len(self._parameters))
