"""Neural-net building blocks: micrograd's Module, Neuron, Layer and MLP.

Pure Python over engine primitives. The classes, signatures, __repr__ strings
and initialisation order are micrograd's, so random.seed(s) gives micrograd's
weights and the same numbers; a neuron's sum is one fused node, and a layer or
a whole MLP is built by one C call per input. Beyond micrograd: a choice of
activation, state_dict() / load_state_dict(), and pickling.

The model is as open as micrograd's: neuron.w, layer.neurons and mlp.layers are
lists, and weights, neurons and layers may be set or changed by hand at any time.
Those lists are watched (microgradc.watched): the fused forward a Layer or an MLP
keeps in C is checked against them on every call and rebuilt after a change, and
a model it cannot fuse (neurons of mixed widths or activations, a user's own
neuron class) runs micrograd's way, neuron by neuron. A new list assigned to a
model's attribute is stored as a watched copy; a list the caller still holds is
stored as itself, as in micrograd, and the model reads it unfused.
"""
import random
import sys
from itertools import chain

from .engine import Value, _is_real, _packed_ids
from .fused import ACTIVATIONS, Dense, dot, zero_grad
from .watched import WatchedList, _generation, changed

_NAMES = {'relu': 'ReLU', 'tanh': 'Tanh', 'sigmoid': 'Sigmoid', 'linear': 'Linear'}


def _width(n, what):
    """n, checked to be a whole number >= 1."""
    if isinstance(n, bool) or not hasattr(n, '__index__') or n.__index__() < 1:
        raise ValueError(f"{what} must be a whole number >= 1, got {n!r}")
    return n.__index__()


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {name!r}")
    return name


class Module:

    def zero_grad(self):
        dense = self._fused()
        if dense is not None:  # its parameters are this module's, their ids already in C
            dense.zero_grad()
        else:
            zero_grad(self.parameters())

    def parameters(self):
        return []

    def named_parameters(self):
        """(name, Value) for every parameter, in parameters() order."""
        return []

    def state_dict(self):
        """Every parameter's data by name: a dict of floats that load_state_dict takes."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state):
        """Set every parameter's data from state, all or nothing.

        Raises ValueError unless state has exactly our names, each with one real number
        that a float can hold; then nothing has been set.
        """
        named = dict(self.named_parameters())
        if set(state) != set(named):
            missing, extra = sorted(set(named) - set(state)), sorted(set(state) - set(named))
            raise ValueError(f"state_dict mismatch: missing {missing}, unexpected {extra}")
        values = {}
        for name in named:
            x = state[name]
            try:
                values[name] = float(x) if _is_real(x) else None
            except (OverflowError, ValueError):
                values[name] = None
            if values[name] is None:
                raise ValueError(f"state_dict[{name!r}] must be one real number that a float "
                                 f"holds, not {x!r:.60}")
        for name, p in named.items():
            p.data = values[name]

    def __setattr__(self, name, value):
        # A new list that nothing else holds (self.w = [...]) is stored as a watched copy,
        # which the fused path keeps up with. A list the caller still holds is stored as
        # that very list, as micrograd does, so changes made through it count: a model
        # holding such a list runs unfused, reading it on every call. Any assignment may
        # change what the model computes.
        if type(value) is list and sys.getrefcount(value) <= _UNHELD_LIST_REFS:
            value = WatchedList(value)
        object.__setattr__(self, name, value)
        changed()

    def _fused(self):
        """The Dense that computes this module now, or None if it cannot be fused:
        built on first use, checked after any change to a watched list or attribute,
        rebuilt when the model it computes changed. Not pickled (it holds C arrays)."""
        cache = self.__dict__.get('_cache')
        seen = _generation[0]  # read first: a change made while we read is seen next time
        if cache is not None and cache[0] == seen:
            return cache[1]
        shape = self._shape()
        dense = cache[1] if cache is not None else None
        if shape is None:
            dense = None
        elif dense is None or dense.shape != shape:
            dense = Dense(*shape)
        self.__dict__['_cache'] = (seen, dense)
        return dense

    def _shape(self):
        """(parameters, sizes, activations) of the Dense this module is, or None."""
        return None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != '_cache'}


def _refs_of_a_new_list():
    """What sys.getrefcount sees in Module.__setattr__ for a list nothing else holds."""
    class Probe:
        def __setattr__(self, name, value):
            seen.append(sys.getrefcount(value))
    seen = []
    Probe().w = [0]
    return seen[0]


_UNHELD_LIST_REFS = _refs_of_a_new_list()


class Neuron(Module):

    def __init__(self, nin, nonlin=True, activation='relu'):
        _activation(activation)
        self.w = [Value(random.uniform(-1, 1)) for _ in range(_width(nin, "nin"))]
        self.b = Value(0)
        self.nonlin = nonlin
        self.activation = activation if nonlin else 'linear'

    def __call__(self, x):
        act = dot(self.w, x, self.b)
        return act if self.activation == 'linear' else getattr(act, self.activation)()

    def parameters(self):
        return self.w + [self.b]

    def named_parameters(self):
        return [(f"w.{i}", w) for i, w in enumerate(self.w)] + [("b", self.b)]

    def __repr__(self):
        return f"{_NAMES[self.activation]}Neuron({len(self.w)})"


def _layer_shape(layer):
    """(parameters, nin, nout, activation) of a Layer of like Neurons, else None."""
    neurons = layer.neurons
    if type(neurons) is not WatchedList or not neurons or any(
            type(n) is not Neuron or type(n.w) is not WatchedList for n in neurons):
        return None  # an unwatched list is read afresh on every call: unfused
    nin, activation = len(neurons[0].w), neurons[0].activation
    if any(len(n.w) != nin or n.activation != activation for n in neurons):
        return None
    parameters = []
    for n in neurons:
        parameters += n.w
        parameters.append(n.b)
    if _packed_ids(parameters) is None or activation not in ACTIVATIONS:
        return None  # one is not a Value
    return tuple(parameters), nin, len(neurons), activation


class Layer(Module):

    def __init__(self, nin, nout, **kwargs):
        _activation(kwargs.get('activation', 'relu'))
        self.neurons = [Neuron(nin, **kwargs) for _ in range(_width(nout, "nout"))]

    def __call__(self, x):
        dense = self._fused()
        if dense is None:
            x = list(x)  # every neuron reads it: a generator would be spent by the first
        out = dense(x) if dense is not None else [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def named_parameters(self):
        return [(f"neurons.{j}.{name}", p) for j, n in enumerate(self.neurons)
                for name, p in n.named_parameters()]

    def _shape(self):
        shape = _layer_shape(self)
        if shape is None:
            return None
        parameters, nin, nout, activation = shape
        return parameters, (nin, nout), (activation,)

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):

    def __init__(self, nin, nouts, activation='relu', output_activation='linear'):
        _activation(activation), _activation(output_activation)
        sz = [_width(nin, "nin")] + [_width(n, "a layer's width") for n in nouts]
        if not nouts:
            raise ValueError("an MLP needs at least one layer")
        self.layers = [
            Layer(sz[i], sz[i+1], activation=activation if i != len(nouts)-1 else output_activation)
            for i in range(len(nouts))]

    def __call__(self, x):
        dense = self._fused()
        if dense is None:  # micrograd's way, layer by layer
            for layer in self.layers:
                x = layer(x)
                x = [x] if isinstance(x, Value) else x  # a layer of one neuron feeds a list on
            return x[0] if len(x) == 1 else x
        out = dense(x)
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        return [(f"layers.{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def _shape(self):
        if type(self.layers) is not WatchedList or not self.layers or any(
                type(layer) is not Layer for layer in self.layers):
            return None
        shapes = [_layer_shape(layer) for layer in self.layers]
        if None in shapes or any(a[2] != b[1] for a, b in zip(shapes, shapes[1:])):
            return None
        return (tuple(chain.from_iterable(shape[0] for shape in shapes)),
                (shapes[0][1],) + tuple(shape[2] for shape in shapes),
                tuple(shape[3] for shape in shapes))

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
