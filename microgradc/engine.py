"""The Value facade: micrograd's API over nodes that live in the C core.

A Value holds only its node's id and the reference that keeps the node alive;
data, grad, children and op live in C and are read from there. Every op is one
C call that makes the node and computes its value; backward() is one C call.
"""
import numbers
import os
import sys
import threading
from array import array

from ._core import ffi, lib

_new = object.__new__
_binary, _binary_scalar, _unary = lib.mgc_binary, lib.mgc_binary_scalar, lib.mgc_unary
_pow_const = lib.mgc_pow_const
_ADD, _MUL, _SUB, _DIV, _POWV = lib.MGC_ADD, lib.MGC_MUL, lib.MGC_SUB, lib.MGC_DIV, lib.MGC_POWV
_NEG, _RELU, _TANH, _EXP, _LOG, _SIGMOID = (lib.MGC_NEG, lib.MGC_RELU, lib.MGC_TANH,
                                            lib.MGC_EXP, lib.MGC_LOG, lib.MGC_SIGMOID)
_OP_TEXT = {lib.MGC_LEAF: '', _ADD: '+', _MUL: '*', _SUB: '-', _DIV: '/', _NEG: 'neg',
            _POWV: '**', _RELU: 'ReLU', _TANH: 'tanh', _EXP: 'exp', _LOG: 'log',
            _SIGMOID: 'sigmoid', lib.MGC_DOT: 'dot', lib.MGC_MSE: 'mse', lib.MGC_HINGE: 'hinge',
            lib.MGC_L2: 'l2', lib.MGC_BCE: 'bce', lib.MGC_SOFTMAX_CE: 'softmax_ce',
            lib.MGC_SOFTMAX_CE_PROBS: 'softmax_ce'}
NODE_BYTES = lib.mgc_node_bytes()

# ids of dropped facades, released in C a batch at a time (one call, not one per drop);
# an array of C ints, so the batch reaches C without converting each id. An id waiting
# here is still owned: the batch holds the reference its facade held.
_dead = array("I")
_DEAD_BATCH = 4096
_flush_lock = threading.Lock()
_flusher = None  # the thread inside _flush, if any


def _flush(blocking=False):
    """Release the batch of dead facades' ids in one C call.

    A __del__ or a hook that runs inside a flush (the same thread) finds it under way and
    leaves its ids for the next one; so does any caller that does not block, when another
    thread is flushing. Other threads may append while C runs, so C gets the batch's copy.
    """
    global _flusher
    if _flusher == threading.get_ident() or not _flush_lock.acquire(blocking):
        return
    _flusher = threading.get_ident()
    try:
        count = len(_dead)
        batch = _dead[:count]
        del _dead[:count]
        lib.mgc_release_many(ffi.from_buffer("mgc_id[]", batch), count)
    finally:
        _flusher = None
        _flush_lock.release()


def _before_fork():
    # a flush in another thread finishes first, so the child gets no half-released batch
    if _flusher != threading.get_ident():
        _flush_lock.acquire()


def _after_fork():
    if _flusher != threading.get_ident():
        _flush_lock.release()


# the C core takes its own lock around fork (pthread_atfork in arena.c)
os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)


def _out_of_memory(value):
    value._id = 0  # the facade dies holding nothing
    raise MemoryError("microgradc: out of memory for a new node")


def _node(node_id):
    """A facade taking over the reference a C constructor returned (0: out of memory)."""
    value = _new(Value)
    value._id = node_id or _out_of_memory(value)
    return value


def _wrap(node_id):
    """A new facade, with a reference of its own, for an existing node."""
    lib.mgc_retain(node_id)
    return _node(node_id)


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
    out = _new(Value)  # made here, not by _node: this is the hottest path
    out._id = node_id or _out_of_memory(out)
    return out


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
        reals = []
        for items, what in groups:
            items = list(items)
            ids = [v._id if isinstance(v, Value) else 0 for v in items]
            if 0 in ids:
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
            for ids in self.ids:
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


class Value:
    """ stores a single scalar value and its gradient, in the C core """
    __slots__ = ("_id", "__weakref__")
    __array_ufunc__ = None  # numpy defers to us: np.float64(2) * v is a Value

    def __init__(self, data, _children=(), _op='', label=''):
        if getattr(self, '_id', 0):
            raise TypeError("a Value is initialised once: make a new Value instead")
        self._id = 0  # nothing to release if a check below raises
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
        self._id = node_id or _out_of_memory(self)
        if _op:
            self._set_text(lib.MGC_TEXT_OP, _op)
        if label:
            self.label = label

    def __del__(self, _dead_append=_dead.append):
        _dead_append(self._id)
        if len(_dead) >= _DEAD_BATCH:
            _flush()

    # data and grad live in C
    @property
    def data(self):
        return lib.mgc_data(self._id)

    @data.setter
    def data(self, x):
        lib.mgc_set_data(self._id, _real(x, "data"))

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
        return {_wrap(i) for i in ids}

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
            out = _new(Value)
            out._id = _binary(_ADD, self._id, other._id) or _out_of_memory(out)
            return out
        return _apply(_ADD, self, other)

    def __mul__(self, other):
        if type(other) is Value:  # the commonest case, without _apply's extra call
            out = _new(Value)
            out._id = _binary(_MUL, self._id, other._id) or _out_of_memory(out)
            return out
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
        if lib.mgc_backward(self._id):
            raise MemoryError("microgradc: out of memory ordering the graph for backward")

    def __neg__(self): # -self
        return _node(_unary(_NEG, self._id))

    def __radd__(self, other): # other + self
        return _apply(_ADD, self, other, 1)

    def __sub__(self, other): # self - other
        if type(other) is Value:  # the commonest case, without _apply's extra call
            out = _new(Value)
            out._id = _binary(_SUB, self._id, other._id) or _out_of_memory(out)
            return out
        return _apply(_SUB, self, other)

    def __rsub__(self, other): # other - self
        return _apply(_SUB, self, other, 1)

    def __rmul__(self, other): # other * self
        return _apply(_MUL, self, other, 1)

    def __truediv__(self, other): # self / other
        if type(other) is Value:  # the commonest case, without _apply's extra call
            out = _new(Value)
            out._id = _binary(_DIV, self._id, other._id) or _out_of_memory(out)
            return out
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
        return f"Value(data={self.data}, grad={self.grad})"


def _leaf_copy(data, grad, label):
    value = Value(data, label=label)
    value.grad = grad
    return value


def live_nodes():
    """The number of nodes alive in the C core, after releasing dropped facades."""
    _flush(blocking=True)
    return lib.mgc_live_nodes()


def arena_bytes():
    """Bytes the C core holds: nodes up to its high-water mark, id bitmaps, edges, labels."""
    return lib.mgc_bytes()
