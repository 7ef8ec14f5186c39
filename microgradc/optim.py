"""Optimizers over Values, with torch.optim's semantics and numbers.

Each step and each zero_grad is one C call over the parameters' ids. opt.params is a
list that may be changed between steps (append, replace, remove), as torch reads its
param_groups afresh each step: the next step works on the list as it is then, each
parameter keeping its own state (momentum, Adam's moments and step count) and a new
one starting fresh, as in torch. lr and the other settings may also be changed
between steps, as a learning-rate decay does.
"""
import numbers

from ._core import ffi, lib
from .engine import Value
from .watched import WatchedList, changed, generation


def _setting(value, name, low=0.0, high=None):
    """value as a float, checked to lie in [low, high) (>= low with no high); NaN never does."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    value = float(value)
    if not (low <= value) or (high is not None and not value < high):
        bounds = f"in [{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")
    return value


class Optimizer:
    """Holds the parameters (keeping their nodes alive), their ids in C, and lr.

    Raises ValueError for an empty parameter list or a parameter listed twice,
    TypeError for a parameter that is not a Value: at construction, and at the next
    step or zero_grad after opt.params changed.
    """
    _STATE = ()  # names of the per-parameter C arrays of doubles a subclass keeps

    def __init__(self, params, lr):
        self._snapshot = None  # (generation, parameters, ids, state, runs) a step works on
        self.params = params
        self.lr = lr
        self._sync()

    @property
    def params(self):
        """The parameters: a list that may be changed between steps."""
        return self._params

    @params.setter
    def params(self, values):
        self._params = WatchedList(values)
        changed()

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _setting(value, "lr")

    def _sync(self):
        """What a step works on: (parameters, their ids, their state, their runs), read as
        one snapshot. The runs are (lengths, count), as mgc_param_runs splits the ids.

        Rebuilt if opt.params changed since the last one: the parameters are held (so each
        id has an owner for as long as a step uses the snapshot) and each keeps its state,
        carried over by node; a parameter new to the optimizer starts from zero. Another
        thread changing opt.params meanwhile makes a new snapshot, never changes this one.
        """
        snapshot = self._snapshot
        seen = generation()  # read first: a change made while we read is seen next time
        if snapshot is not None and snapshot[0] == seen:
            return snapshot[1:]
        params = tuple(self._params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        first_place = {}
        for i, p in enumerate(params):
            if not isinstance(p, Value):
                raise TypeError(f"parameters must be Values, not {type(p).__name__}")
            if first_place.setdefault(p._id, i) != i:
                raise ValueError(f"parameter {i} is parameter {first_place[p._id]} again: "
                                 f"each parameter may be listed once")
        state = {name: ffi.new(kind, len(params)) for name, kind in self._STATE}
        if snapshot is not None:
            old_params, _, old_state, _ = snapshot[1:]
            old_place = {p._id: i for i, p in enumerate(old_params)}
            for i, p in enumerate(params):
                j = old_place.get(p._id)
                if j is not None:
                    for name in state:
                        state[name][i] = old_state[name][j]
        ids = ffi.new("mgc_id[]", [p._id for p in params])
        runs = ffi.new("uint32_t[]", len(params))  # they step together from now on
        runs = (runs, lib.mgc_param_runs(ids, state['steps'], len(params), runs))
        self._snapshot = (seen, params, ids, state, runs)
        return params, ids, state, runs

    def zero_grad(self):
        _, ids, _, runs = self._sync()
        lib.mgc_zero_grad_runs(ids, *runs)


class SGD(Optimizer):
    """torch.optim.SGD without dampening or Nesterov."""
    _STATE = (('velocity', 'double[]'), ('steps', 'uint64_t[]'))

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.momentum = _setting(momentum, "momentum")
        self.weight_decay = _setting(weight_decay, "weight_decay")
        super().__init__(params, lr)

    def step(self):
        _, ids, state, runs = self._sync()
        lib.mgc_sgd_step(ids, *runs, self.lr, self.momentum, self.weight_decay,
                         state['velocity'], state['steps'])


class Adam(Optimizer):
    """torch.optim.Adam (weight decay added to the gradient, not decoupled)."""
    _STATE = (('m', 'double[]'), ('v', 'double[]'), ('steps', 'uint64_t[]'))

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        beta1, beta2 = betas
        self.betas = (_setting(beta1, "beta1", high=1.0), _setting(beta2, "beta2", high=1.0))
        self.eps = _setting(eps, "eps")
        self.weight_decay = _setting(weight_decay, "weight_decay")
        super().__init__(params, lr)

    def step(self):
        _, ids, state, runs = self._sync()
        lib.mgc_adam_step(ids, *runs, self.lr, self.betas[0], self.betas[1], self.eps,
                          self.weight_decay, state['m'], state['v'], state['steps'])
