"""Fused nodes: a neuron's sum as one node, dense layers built in one C call.

These are the engine primitives microgradc.nn is made of; each gives the
numbers micrograd's unfused graph would, without a Python call per scalar.
"""
from ._core import ffi, lib
from .engine import _ids, _node, _release

ACTIVATIONS = {'relu': lib.MGC_RELU, 'tanh': lib.MGC_TANH, 'sigmoid': lib.MGC_SIGMOID,
               'linear': lib.MGC_LEAF}


def dot(ws, xs, bias=None):
    """bias + sum of ws[i] * xs[i] as one node (_op 'dot').

    Its value is bit-identical to micrograd's sum((wi*xi for wi, xi in zip(ws, xs)), bias)
    (a sum from 0 without a bias), its gradients those of that unfused graph. ws, xs and
    bias may hold Values or real numbers. Raises ValueError if ws and xs differ in length,
    TypeError for anything that is not a Value or a real number.
    """
    ws, xs = list(ws), list(xs)
    if len(ws) != len(xs):
        raise ValueError(f"dot needs as many weights as inputs, got {len(ws)} and {len(xs)}")
    w_ids, w_made = _ids(ws, "a weight")
    x_ids, x_made = _ids(xs, "an input")
    b_ids, b_made = _ids([bias], "the bias") if bias is not None else ([0], ())
    try:
        return _node(lib.mgc_dot(w_ids, x_ids, len(ws), b_ids[0]))
    finally:
        for made in (w_made, x_made, b_made):
            _release(made)


def zero_grad(values):
    """Set the grad of every Value in values to 0.0, in one C call."""
    ids = [v._id for v in values]
    lib.mgc_zero_grad(ids, len(ids))


class Dense:
    """Dense layers in sequence, built by one C call per input.

    parameters: every layer's neurons' weights then bias, in micrograd's parameters()
    order; sizes: the input width then each layer's width; activations: one name of
    ACTIVATIONS a layer. The parameters are fixed for the life of the Dense.
    """

    def __init__(self, parameters, sizes, activations):
        self._parameters = list(parameters)  # keeps their nodes alive for the ids below
        self._ids = ffi.new("mgc_id[]", [p._id for p in self._parameters])
        self._sizes = ffi.new("uint32_t[]", list(sizes))
        self._activations = ffi.new("int[]", [ACTIVATIONS[a] for a in activations])
        self._layers = len(activations)
        self.nin, self.nout = sizes[0], sizes[-1]

    def __call__(self, x):
        """The last layer's outputs for inputs x (Values or real numbers), a list of Values."""
        x_ids, made = _ids(x, "an input")
        if len(x_ids) != self.nin:
            _release(made)
            raise ValueError(f"expected {self.nin} inputs, got {len(x_ids)}")
        out = ffi.new("mgc_id[]", self.nout)
        status = lib.mgc_mlp(self._ids, self._sizes, self._activations, self._layers, x_ids, out)
        _release(made)
        if status:
            raise MemoryError("microgradc: out of memory building a layer")
        return [_node(i) for i in out]

    def zero_grad(self):
        lib.mgc_zero_grad(self._ids, len(self._parameters))
