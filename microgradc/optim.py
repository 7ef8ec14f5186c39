"""Optimizers over Values, with torch.optim's semantics and numbers.

Each step and each zero_grad is one C call over the parameters' ids; lr (and the
other settings) may be changed between steps, as a learning-rate decay does.
"""
import numbers

from ._core import ffi, lib
from .engine import Value


def _setting(value, name, low=0.0, high=None):
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    if value < low or (high is not None and value >= high):
        bounds = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return float(value)


class Optimizer:
    """Holds the parameters (keeping their nodes alive), their ids, and lr."""

    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"parameters must be Values, not {type(p).__name__}")
        self._ids = ffi.new("mgc_id[]", [p._id for p in self.params])
        self.lr = _setting(lr, "lr")

    def _state(self):
        """A zeroed C array of one double a parameter."""
        return ffi.new("double[]", len(self.params))

    def zero_grad(self):
        lib.mgc_zero_grad(self._ids, len(self.params))


class SGD(Optimizer):
    """torch.optim.SGD without dampening or Nesterov."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = _setting(momentum, "momentum")
        self.weight_decay = _setting(weight_decay, "weight_decay")
        self._velocity = self._state()
        self._steps = 0

    def step(self):
        lib.mgc_sgd_step(self._ids, len(self.params), self.lr, self.momentum, self.weight_decay,
                         self._velocity, self._steps)
        self._steps += 1


class Adam(Optimizer):
    """torch.optim.Adam (weight decay added to the gradient, not decoupled)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        beta1, beta2 = betas
        self.betas = (_setting(beta1, "beta1", high=1.0), _setting(beta2, "beta2", high=1.0))
        self.eps = _setting(eps, "eps")
        self.weight_decay = _setting(weight_decay, "weight_decay")
        self._m, self._v = self._state(), self._state()
        self._steps = 0

    def step(self):
        self._steps += 1
        lib.mgc_adam_step(self._ids, len(self.params), self.lr, self.betas[0], self.betas[1],
                          self.eps, self.weight_decay, self._m, self._v, self._steps)
