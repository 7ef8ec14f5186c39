"""The Value facade: micrograd's API over nodes that live in the C core.

A Value holds only its node's id and the reference that keeps the node alive
(its C base, csrc/facade.c, releases the node when the Value dies); data, grad,
children and op live in C and are read from there. Every op is one C call that
makes the node and computes its value; backward() is one C call.
"""
import math
import numbers
import operator
import sys
import threading

from . import _core
from ._core import ffi, lib

_binary, _binary_scalar, _unary = lib.mgc_binary, lib.mgc_binary_scalar, lib.mgc_unary
_pow_const = lib.mgc_pow_const
_ADD, _MUL, _SUB, _DIV, _POWV = lib.MGC_ADD, lib.MGC_MUL, lib.MGC_SUB, lib.MGC_DIV, lib.MGC_POWV
_NEG, _RELU, _TANH, _EXP, _LOG, _SIGMOID = (lib.MGC_NEG, lib.MGC_RELU, lib.MGC_TANH,
                                            lib.MGC_EXP, lib.MGC_LOG, lib.MGC_SIGMOID)
_OP_TEXT = {lib.MGC_LEAF: '', _ADD: '+', _MUL: '*', _SUB: '-', _DIV: '/', _NEG: 'neg',
            _POWV: '**', _RELU: 'ReLU', _TANH: 'tanh', _EXP: 'exp', _LOG: 'log',
            _SIGMOID: 'sigmoid', lib.MGC_DOT: 'dot', lib.MGC_MSE: 'mse', lib.MGC_HINGE: 'hinge',
            lib.MGC_L2: 'l2', lib.MGC_BCE: 'bce', lib.MGC_SOFTMAX_CE: 'softmax_ce',
            lib.MGC_SOFTMAX_CE_PROBS: 'softmax_ce', lib.MGC_LOGSUMEXP: 'logsumexp',
            lib.MGC_SELECT: 'select', lib.MGC_SHIFT: 'shift', lib.MGC_SOFTMAX: 'softmax'}
NODE_BYTES = lib.mgc_node_bytes()

# Value's C base: a facade holds its node's id, and releases the node when it dies
if lib.mgc_py_setup():
    raise ImportError("microgradc: could not make the Value base type")
Facade = _core.Facade  # made by the call above


# Nodes whose local rule is a Python function (micrograd's out._backward = ...). The
# function lives in its facade's __dict__; while anything else holds the node (a parent,
# another facade), the facade is pinned here, so the function outlives the user's last
# reference to it. A pin is dropped once the node is held by its facade alone and the
# facade by nothing but its own function's closure: then nothing can reach either, and
# dropping the function frees both. Pins are checked when their number has doubled.
_pins = {}
_pins_lock = threading.Lock()
_pins_checked = [0]  # how many pins there were after the last check


def _set_rule(value, rule):
    if not callable(rule):
        raise TypeError(f"_backward must be callable, not {type(rule).__name__}")
    value.__dict__['_backward'] = rule
    with _pins_lock:
        _pins[value._id] = value
        lib.mgc_set_py_rule(value._id, 1)
        if len(_pins) > 2 * _pins_checked[0] + 64:
            _drop_unneeded_pins()


def _drop_unneeded_pins():
    """Unpin every facade that only its own rule still reaches (lock held); again while
    that frees more (a user op's node may hold another's)."""
    dropped = True
    while dropped:
        dropped = False
        ids = list(_pins)
        refs = ffi.new("uint32_t[]", len(ids))
        lib.mgc_refs(ids, len(ids), refs)
        for node_id, node_refs in zip(ids, refs):
            if node_refs != 1:  # a parent, or another facade, still holds the node
                continue
            value = _pins[node_id]
            rule = value.__dict__.get('_backward')
            inside = sum(1 for cell in getattr(rule, '__closure__', None) or ()
                         if cell.cell_contents is value)
            inside += getattr(rule, '__self__', None) is value
            # the pin, `value` here, and getrefcount's own argument
            if sys.getrefcount(value) == 3 + inside:
                del _pins[node_id]
                # break the facade <-> rule cycle now, not at the next collection
                value.__dict__.pop('_backward', None)
                dropped = True
            del value, rule
    _pins_checked[0] = len(_pins)


def _rule_of(node_id):
    """The Python rule of a node that has one, or None."""
    return _get(node_id).__dict__.get('_backward')


def _is_real(x):
    """Whether x is a real number: int, float, bool, a numpy scalar (numpy's bool included)."""
    if type(x) is float or type(x) is int or isinstance(x, numbers.Real):
        return True
    numpy = sys.modules.get("numpy")  # without numpy loaded, x cannot be a numpy bool
    return numpy is not None and isinstance(x, numpy.bool_)


def _real(x, what):
    """x as a float; TypeError unless x is a real number."""
    if _is_real(x):
        return float(x)
    raise TypeError(f"{what} must be a real number, not {type(x).__name__}")


def _apply(op, value, other, reflected=0):
    """value op other (other op value if reflected), other a Value or a real number;
    NotImplemented for anything else."""
    kind = type(other)
    if kind is Value or (kind is not float and kind is not int and isinstance(other, Value)):
        if reflected:  # only a subclass of Value reaches a reflected op as other
            value, other = other, value
        node_id = _binary(op, value._id, other._id)
    elif kind is float or kind is int or _is_real(other):
        node_id = _binary_scalar(op, value._id, float(other), reflected)
    else:
        return NotImplemented
    return _take(node_id)


class _Operands:
    """Node ids for groups of operands, owned until the C call that takes them is over.

        with _Operands((ws, "a weight"), (xs, "an input")) as (w_ids, x_ids):
            out = _node(lib.mgc_dot(w_ids, x_ids, len(w_ids), 0))

    Each group is an iterable (read once: a generator is fine) and what to call one of
    its items in an error. Every group is read and checked before any node is made, and
    each real number becomes a new leaf, all of them in one C call. Inside the block this
    object keeps every Value of the groups alive, so C is never handed an id that nobody
    owns; on the way out it drops the new leaves' references, which the nodes built in
    the block have taken by then. Raises TypeError, naming `what`, for anything that is
    not a Value or a real number, and MemoryError if C ran out.
    """
    __slots__ = ("values", "ids", "made")

    def __init__(self, *groups):
        self.values, self.ids, self.made = [], [], ()
        reals, partial = [], []
        for items, what in groups:
            items = list(items)
            packed = _packed_ids(items) if items else None  # all Values: one C pass
            if packed is not None:
                ids = ffi.from_buffer("mgc_id[]", packed)
            else:
                ids = [v._id if isinstance(v, Value) else 0 for v in items]
                if 0 in ids:
                    partial.append(ids)
                    for v, node_id in zip(items, ids):
                        if not node_id:
                            reals.append(v if type(v) is float else _real(v, what))
            self.values.append(items)
            self.ids.append(ids)
        if reals:
            made = ffi.new("mgc_id[]", len(reals))
            if lib.mgc_leaves(reals, len(reals), made):
                raise MemoryError("microgradc: out of memory for new leaves")
            self.made = made
            leaves = iter(made)
            for ids in partial:
                for i, node_id in enumerate(ids):
                    if not node_id:
                        ids[i] = next(leaves)

    def __enter__(self):
        return self.ids

    def __exit__(self, *exc):
        if self.made:
            lib.mgc_release_many(self.made, len(self.made))
            self.made = ()
        return False


def _text(node_id, which):
    length = lib.mgc_text(node_id, which, ffi.NULL, 0)
    while True:
        buffer = ffi.new("char[]", length)
        copied = lib.mgc_text(node_id, which, buffer, length)
        if copied == length:  # else another thread changed it in between
            return ffi.unpack(buffer, length).decode("utf-8")
        length = copied


class Value(Facade):
    """ stores a single scalar value and its gradient, in the C core """
    __slots__ = ("__dict__", "__weakref__")  # a Value takes attributes, as micrograd's

    def __init__(self, data, _children=(), _op='', label=''):
        if getattr(self, '_id', 0):
            raise TypeError("a Value is initialised once: make a new Value instead")
        is_int = isinstance(data, numbers.Integral) and not isinstance(data, bool)
        data = _real(data, "data")
        if not isinstance(_op, str):
            raise TypeError(f"_op must be a str, not {type(_op).__name__}")
        children = tuple(_children)
        if children or _op:
            for child in children:
                if not isinstance(child, Value):
                    raise TypeError(f"_children must be Values, not {type(child).__name__}")
            node_id = lib.mgc_opaque(data, [c._id for c in children], len(children))
        else:
            node_id = lib.mgc_leaf(data)
        self._adopt(node_id)  # raises MemoryError for 0
        if is_int:  # it prints as micrograd prints it: Value(data=2, grad=0)
            lib.mgc_set_int_data(node_id, data)
        if _op:
            self._set_text(lib.MGC_TEXT_OP, _op)
        if label:
            self.label = label

    # data and grad live in C
    @property
    def data(self):
        return lib.mgc_data(self._id)

    @data.setter
    def data(self, x):
        if type(x) is not float and isinstance(x, numbers.Integral) and not isinstance(x, bool):
            lib.mgc_set_int_data(self._id, float(x))  # it prints as an int, as micrograd's
        else:
            lib.mgc_set_data(self._id, x if type(x) is float else _real(x, "data"))

    @property
    def grad(self):
        return lib.mgc_grad(self._id)

    @grad.setter
    def grad(self, x):
        lib.mgc_set_grad(self._id, _real(x, "grad"))

    @property
    def label(self):
        return _text(self._id, lib.MGC_TEXT_LABEL)

    @label.setter
    def label(self, text):
        if not isinstance(text, str):
            raise TypeError(f"label must be a str, not {type(text).__name__}")
        self._set_text(lib.MGC_TEXT_LABEL, text)

    def _set_text(self, which, text):
        encoded = text.encode("utf-8")
        if lib.mgc_set_text(self._id, which, encoded, len(encoded)):
            raise MemoryError("microgradc: out of memory for a label")

    @property
    def _prev(self):
        count = lib.mgc_children(self._id, ffi.NULL, 0)
        ids = ffi.new("mgc_id[]", count)
        lib.mgc_children(self._id, ids, count)
        return {_get(i) for i in ids}

    @property
    def _backward(self):
        """This node's local rule, applied once: a Python function given to it, else
        its op's own rule (nothing for a leaf), as micrograd's closure."""
        rule = self.__dict__.get('_backward')
        return rule if rule is not None else self._local_backward

    @_backward.setter
    def _backward(self, rule):
        _set_rule(self, rule)

    def _local_backward(self):
        lib.mgc_local_backward(self._id)

    @property
    def _op(self):
        op = lib.mgc_op(self._id)
        if op == lib.MGC_POW:
            is_int = ffi.new("int *")
            exponent = lib.mgc_exponent(self._id, is_int)
            return f"**{int(exponent) if is_int[0] else exponent}"
        if op == lib.MGC_OPAQUE:
            return _text(self._id, lib.MGC_TEXT_OP)
        return _OP_TEXT[op]

    def __add__(self, other):
        if type(other) is Value:  # the commonest case, without _apply's extra call
            return _take(_binary(_ADD, self._id, other._id))
        return _apply(_ADD, self, other)

    def __mul__(self, other):
        if type(other) is Value:  # the commonest case, without _apply's extra call
            return _take(_binary(_MUL, self._id, other._id))
        return _apply(_MUL, self, other)

    def __pow__(self, other):
        if type(other) is Value or not _is_real(other):
            return _apply(_POWV, self, other)
        is_int = type(other) is int or isinstance(other, numbers.Integral)
        return _node(_pow_const(self._id, other, is_int))

    def relu(self):
        return _node(_unary(_RELU, self._id))

    def tanh(self):
        return _node(_unary(_TANH, self._id))

    def exp(self):
        return _node(_unary(_EXP, self._id))

    def log(self):
        return _node(_unary(_LOG, self._id))

    def sigmoid(self):
        return _node(_unary(_SIGMOID, self._id))

    def backward(self):
        paused = ffi.new("mgc_sweep **")
        status = lib.mgc_backward(self._id, paused)
        if status == 0:
            return
        if status < 0:
            raise MemoryError("microgradc: out of memory ordering the graph for backward")
        sweep = paused[0]  # C stopped at a node whose rule is Python's: run each in turn
        try:
            while node_id := lib.mgc_sweep_next(sweep):
                rule = _rule_of(node_id)
                if rule is not None:
                    rule()
        finally:
            lib.mgc_sweep_free(sweep)

    def __neg__(self): # -self
        return _node(_unary(_NEG, self._id))

    def __radd__(self, other): # other + self
        return _apply(_ADD, self, other, 1)

    def __sub__(self, other): # self - other
        if type(other) is Value:  # the commonest case, without _apply's extra call
            return _take(_binary(_SUB, self._id, other._id))
        return _apply(_SUB, self, other)

    def __rsub__(self, other): # other - self
        return _apply(_SUB, self, other, 1)

    def __rmul__(self, other): # other * self
        return _apply(_MUL, self, other, 1)

    def __truediv__(self, other): # self / other
        if type(other) is Value:  # the commonest case, without _apply's extra call
            return _take(_binary(_DIV, self._id, other._id))
        return _apply(_DIV, self, other)

    def __rtruediv__(self, other): # other / self
        return _apply(_DIV, self, other, 1)

    def __rpow__(self, other): # other ** self
        return _apply(_POWV, self, other, 1)

    # two facades of one node are the same Value
    def __eq__(self, other):
        if not isinstance(other, Value):
            return NotImplemented
        return other._id == self._id

    def __hash__(self):
        return hash(self._id)

    def __reduce__(self):
        # a pickle or deep copy is a leaf with this data, grad and label
        return _leaf_copy, (self.data, self.grad, self.label)

    def __repr__(self):
        # micrograd's text: an int given as data prints as an int, and a grad of 0 as 0
        data, grad = lib.mgc_data(self._id), lib.mgc_grad(self._id)
        if lib.mgc_int_data(self._id) and data.is_integer():
            data = int(data)
        if grad == 0 and math.copysign(1.0, grad) > 0:
            grad = 0
        return f"Value(data={data}, grad={grad})"

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """numpy meets a Value: with an array, an object array of Values (micrograd's
        result); with numpy scalars, a Value."""
        op = _ufunc_op(ufunc)
        if op is None or method != '__call__' or kwargs:
            return NotImplemented
        numpy = sys.modules['numpy']
        if not any(isinstance(x, numpy.ndarray) for x in inputs):
            return op(*(x.item() if isinstance(x, numpy.generic) else x for x in inputs))
        return numpy.frompyfunc(op, len(inputs), 1)(*(_object_array(x, numpy) for x in inputs))


def _ufunc_op(ufunc):
    """The Python function a numpy ufunc is for Values, or None."""
    if not _UFUNC_OPS:
        numpy = sys.modules['numpy']
        _UFUNC_OPS.update({
            numpy.add: operator.add, numpy.subtract: operator.sub,
            numpy.multiply: operator.mul, numpy.true_divide: operator.truediv,
            numpy.power: operator.pow, numpy.negative: operator.neg,
            numpy.exp: lambda x: x.exp() if isinstance(x, Value) else math.exp(x),
            numpy.log: lambda x: x.log() if isinstance(x, Value) else math.log(x),
            numpy.tanh: lambda x: x.tanh() if isinstance(x, Value) else math.tanh(x),
        })
    return _UFUNC_OPS.get(ufunc)


_UFUNC_OPS = {}


def _object_array(x, numpy):
    """x as an array that frompyfunc reads element by element: a Value in a 0-d object
    array (left bare, numpy would ask the Value's __array_ufunc__ again)."""
    if isinstance(x, Value):
        cell = numpy.empty((), dtype=object)
        cell[()] = x
        return cell
    return x


# _take(id): a new Value taking over the reference a C constructor returned (0 raises
# MemoryError); _get(id): the node's Value, the one it has (a node has one at a time, so
# _prev gives back what the user holds) or a new one with a reference of its own
_take, _get = Value._take, Value._get
# _packed_ids(list): the ids of a list of Values as an mgc_id[] in bytes, or None if an
# item is not a Value; _take_all(bytes): new Values, each taking over one id of such bytes
_packed_ids, _take_all = Value._ids, Value._take_all
_node = _take


def _leaf_copy(data, grad, label):
    value = Value(data, label=label)
    value.grad = grad
    return value


def live_nodes():
    """The number of nodes alive in the C core."""
    with _pins_lock:
        _drop_unneeded_pins()
    return lib.mgc_live_nodes()


def arena_bytes():
    """Bytes the C core holds: nodes up to its high-water mark, id bitmaps, edges, labels."""
    return lib.mgc_bytes()
