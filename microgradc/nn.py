"""Neural-net building blocks: micrograd's Module, Neuron, Layer and MLP.

Pure Python over engine primitives. The classes, signatures, __repr__ strings
and initialisation order are micrograd's, so random.seed(s) gives micrograd's
weights and the same numbers; a neuron's sum is one fused node, and a layer or
a whole MLP is built by one C call per input. Beyond micrograd: a choice of
activation, state_dict() / load_state_dict(), and pickling.

Parameters are fixed at construction (w, neurons and layers are tuples): set a
parameter's value through .data or load_state_dict().
"""
import random

from .engine import Value, _is_real
from .fused import ACTIVATIONS, Dense, dot

_NAMES = {'relu': 'ReLU', 'tanh': 'Tanh', 'sigmoid': 'Sigmoid', 'linear': 'Linear'}


class Module:

    def zero_grad(self):
        self._dense().zero_grad()

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

        Raises ValueError unless state has exactly our names, each with one real number.
        """
        named = dict(self.named_parameters())
        if set(state) != set(named):
            missing, extra = sorted(set(named) - set(state)), sorted(set(state) - set(named))
            raise ValueError(f"state_dict mismatch: missing {missing}, unexpected {extra}")
        for name in named:
            if not _is_real(state[name]):
                raise ValueError(f"state_dict[{name!r}] must be one real number, "
                                 f"not {type(state[name]).__name__}")
        for name, p in named.items():
            p.data = state[name]

    def _dense(self):
        # the fused forward, made on first use; not pickled (it holds C arrays)
        if self.__dict__.get('_fused') is None:
            self._fused = self._make_dense()
        return self._fused

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != '_fused'}


class Neuron(Module):

    def __init__(self, nin, nonlin=True, activation='relu'):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {activation!r}")
        self._w = tuple(Value(random.uniform(-1, 1)) for _ in range(nin))
        self._b = Value(0)
        self.nonlin = nonlin
        self.activation = activation if nonlin else 'linear'

    w = property(lambda self: self._w, doc="the weights, a tuple of Values")
    b = property(lambda self: self._b, doc="the bias Value")

    def __call__(self, x):
        act = dot(self._w, x, self._b)
        return act if self.activation == 'linear' else getattr(act, self.activation)()

    def parameters(self):
        return list(self._w) + [self._b]

    def named_parameters(self):
        return [(f"w.{i}", w) for i, w in enumerate(self._w)] + [("b", self._b)]

    def _make_dense(self):
        return Dense(self.parameters(), [len(self._w), 1], [self.activation])

    def __repr__(self):
        return f"{_NAMES[self.activation]}Neuron({len(self._w)})"


class Layer(Module):

    def __init__(self, nin, nout, **kwargs):
        self.neurons = tuple(Neuron(nin, **kwargs) for _ in range(nout))

    def __call__(self, x):
        out = self._dense()(x)
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

    def named_parameters(self):
        return [(f"neurons.{j}.{name}", p) for j, n in enumerate(self.neurons)
                for name, p in n.named_parameters()]

    def _make_dense(self):
        nin = len(self.neurons[0].w)
        return Dense(self.parameters(), [nin, len(self.neurons)], [self.neurons[0].activation])

    def __repr__(self):
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):

    def __init__(self, nin, nouts, activation='relu', output_activation='linear'):
        sz = [nin] + nouts
        self.layers = tuple(
            Layer(sz[i], sz[i+1], activation=activation if i != len(nouts)-1 else output_activation)
            for i in range(len(nouts)))

    def __call__(self, x):
        out = self._dense()(x)
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        return [(f"layers.{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def _make_dense(self):
        sizes = [len(self.layers[0].neurons[0].w)] + [len(layer.neurons) for layer in self.layers]
        return Dense(self.parameters(), sizes, [layer.neurons[0].activation for layer in self.layers])

    def __repr__(self):
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
