"""A model-based stateful test of the public API against a pure-Python reference.

Hypothesis drives random sequences of: leaves and every elementwise op, fused dots,
layers, MLPs, losses, softmaxes and embedding lookups (a Value choosing the row) fed
lists, tuples, generators and numpy rows, dropping
references, the garbage collector, backward(), optimizer steps, changes to
parameter lists and model weights after use, compiling and replaying, and state
dicts. A reference with micrograd's semantics (below: each node remembers its
children and a local rule that reads the current data, as micrograd's closures do;
backward is micrograd's build_topo) does the same. After every step every live
Value's data and grad equal the reference's; at the end every node is freed.

Run longer with HYPOTHESIS_PROFILE=long (see conftest.py).
"""
import gc
import math
import os

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import microgradc as mg
from helpers import close
from microgradc import Value
from microgradc.engine import live_nodes


class Ref:
    """micrograd's Value, with the arithmetic microgradc documents (IEEE, true division).

    microgradc's fused nodes (dot, the losses) are one node each, with no interior
    nodes whose grads would accumulate over repeated backward() calls: the reference
    builds them the same way (fused()), each with the unfused graph's local rule.
    """

    def __init__(self, data, children=(), rule=None):
        self.data, self.grad, self.children, self.rule = float(data), 0.0, list(children), rule

    def op(self, other, forward, rule):
        other = other if isinstance(other, Ref) else Ref(other)
        out = Ref(forward(self.data, other.data), (self, other))
        out.rule = lambda: rule(self, other, out)
        return out

    def __add__(self, other):
        return self.op(other, lambda a, b: a + b, _add_rule)

    def __sub__(self, other):
        return self.op(other, lambda a, b: a - b, _sub_rule)

    def __mul__(self, other):
        return self.op(other, lambda a, b: a * b, _mul_rule)

    def rsub(self, number):  # number - self
        return Ref(number).op(self, lambda a, b: a - b, _sub_rule)

    def unary(self, name):
        forward, local = UNARY[name]
        out = Ref(forward(self.data), (self,))

        def rule():
            self.grad += local(self.data, out.data) * out.grad
        out.rule = rule
        return out

    @staticmethod
    def fused(children, data, rule):
        """One node over children whose rule(grad) adds into their grads."""
        out = Ref(data, children)
        out.rule = lambda: rule(out.grad)
        return out

    @staticmethod
    def dot(ws, xs, bias=None):
        ws, xs = [lift(w) for w in ws], [lift(x) for x in xs]
        data = bias.data if bias is not None else 0.0
        for w, x in zip(ws, xs):
            data = data + w.data * x.data

        def rule(g):
            for w, x in zip(ws, xs):
                w.grad += x.data * g
                x.grad += w.data * g
            if bias is not None:
                bias.grad += g
        return Ref.fused(ws + xs + ([bias] if bias is not None else []), data, rule)

    def backward(self):
        topo, seen = [], set()
        stack = [(self, False)]
        while stack:  # micrograd's build_topo, without recursion
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.children))
        self.grad = 1.0
        for node in reversed(topo):
            if node.rule:
                node.rule()


def lift(x):
    return x if isinstance(x, Ref) else Ref(x)


def ref_loss(name, preds, labels):
    """A fused loss node: microgradc's loss kernels (csrc/losses.c), forward and backward."""
    preds, labels = [lift(p) for p in preds], [lift(t) for t in labels]
    n = len(preds)
    if name == 'l2':
        def rule(g):
            for p in preds:
                p.grad += p.data * g
                p.grad += p.data * g
        total = 0.0
        for p in preds:
            total = total + p.data * p.data
        return Ref.fused(preds, total, rule)
    if name == 'mse':
        def rule(g):
            for p, t in zip(preds, labels):
                share = (2.0 * (p.data - t.data)) * (g / n)
                p.grad += share
                t.grad += -share
        total = 0.0
        for p, t in zip(preds, labels):
            total = total + (p.data - t.data) * (p.data - t.data)
        return Ref.fused(preds + labels, total / n, rule)

    def rule(g):  # hinge: mean of relu(1 + s * -y)
        for s, y in zip(preds, labels):
            if 1.0 + s.data * -y.data > 0:
                s.grad += -y.data * ((1.0 / n) * g)
                y.grad += -(s.data * ((1.0 / n) * g))
    total = 0.0
    for s, y in zip(preds, labels):
        total = total + max(1.0 + s.data * -y.data, 0.0)
    return Ref.fused(preds + labels, total * (1.0 / n), rule)


def _exp(x):
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def ref_softmax(zs):
    """softmax as microgradc builds it (torch's formulas): a shift node (the max, passing
    no grad), d = z - shift, one logsumexp node over d, and exp(d - lse) a value; each
    node with its own local rule."""
    zs = [lift(z) for z in zs]
    top = zs[0].data
    for z in zs[1:]:
        if z.data > top or z.data != z.data:
            top = z.data
    shift = Ref.fused(zs, top, lambda g: None)
    ds = [z - shift for z in zs]
    lse_shift = max(d.data for d in ds) if all(d.data == d.data for d in ds) else math.nan
    lse_shift = 0.0 if math.isinf(lse_shift) else lse_shift
    total = 0.0
    for d in ds:
        total += _exp(d.data - lse_shift)
    lse_data = (math.log(total) if total > 0 else -math.inf) + lse_shift

    def lse_rule(g):
        for d in ds:
            d.grad += g * _exp(d.data - lse.data)
    lse = Ref.fused(ds, lse_data, lse_rule)
    out = []
    for d in ds:
        p = Ref(_exp(d.data - lse.data), (d, lse))

        def rule(d=d, p=p):
            d.grad += p.data * p.grad
            lse.grad += -(p.data * p.grad)
        p.rule = rule
        out.append(p)
    return out


def ref_select(column, index):
    """column[index] as a node whose rule sends the grad to the row its index held when
    it was made, as torch's embedding keeps the index it saved."""
    column = [lift(c) for c in column]
    row = int(index.data)

    def rule(g):
        column[row].grad += g
    return Ref.fused(column + [index], column[row].data, rule)


def _add_rule(a, b, out):
    a.grad += out.grad
    b.grad += out.grad


def _sub_rule(a, b, out):
    a.grad += out.grad
    b.grad += -out.grad


def _mul_rule(a, b, out):
    a.grad += b.data * out.grad
    b.grad += a.data * out.grad


def _exp(x):
    """exp(x) as C's exp gives it: inf past the largest double, where math.exp raises."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


UNARY = {  # name: (forward, local derivative from input and output)
    'relu': (lambda x: 0.0 if x < 0 else x, lambda x, out: 0.0 if out <= 0 else 1.0),
    'tanh': (math.tanh, lambda x, out: 1.0 - out * out),
    'sigmoid': (lambda x: 1.0 / (1.0 + _exp(-x)), lambda x, out: (1.0 - out) * out),
}
BINARY = {'+': lambda a, b: a + b, '-': lambda a, b: a - b, '*': lambda a, b: a * b}
NUMBER = st.floats(-3, 3, allow_nan=False).map(lambda x: round(x, 3))
INDEX = st.integers(0, 10**6)
CONTAINER = st.sampled_from(['list', 'tuple', 'generator', 'numpy'])


def feed(kind, items):
    """items in the container a user might hand over (numpy rows only hold numbers)."""
    if kind == 'tuple':
        return tuple(items)
    if kind == 'generator':
        return (item for item in items)
    if kind == 'numpy' and not any(isinstance(item, Value) for item in items):
        return np.array(items, dtype=np.float64)
    return list(items)


def ref_neuron(ws, b, x, activation):
    out = Ref.dot(ws, x, b)
    return out if activation == 'linear' else out.unary(activation)


class EngineAgainstReference(RuleBasedStateMachine):

    @initialize()
    def start(self):
        self.baseline = live_nodes()  # the machine makes no reference cycles: no collector needed
        self.pairs = []      # (our Value, its Ref) for every Value the test holds
        self.models = []     # (our MLP, its reference weights [[(w pairs, b pair)]], activation)
        self.optimizers = []  # (our SGD, its pairs, lr)

    # -- helpers ---------------------------------------------------------------

    def pick(self, i):
        return self.pairs[i % len(self.pairs)]

    def operand(self, draw_value, i, x):
        """A pair's Value and Ref, or a plain number for both."""
        return self.pick(i) if draw_value and self.pairs else (x, x)

    def ref_weights(self, m):
        model, _, activation = self.models[m % len(self.models)]
        return model, [[(n.w, n.b) for n in layer.neurons] for layer in model.layers], activation

    def twin_of(self, value):
        for ours, ref in self.pairs:
            if ours is value:
                return ref
        raise AssertionError("a model holds a Value the test does not know")

    def ref_forward(self, model, x):
        """The model's output, unfused, on reference twins of its current weights."""
        last = len(model.layers) - 1
        for k, layer in enumerate(model.layers):
            activation = layer.neurons[0].activation
            out = [ref_neuron([self.twin_of(w) for w in n.w], self.twin_of(n.b), x, activation)
                   for n in layer.neurons]
            x = out[0] if len(out) == 1 and k == last else out
        return x

    # -- building --------------------------------------------------------------

    @rule(x=NUMBER)
    def leaf(self, x):
        self.pairs.append((Value(x), Ref(x)))

    @rule(i=INDEX, name=st.sampled_from(sorted(UNARY)))
    def unary(self, i, name):
        if self.pairs:
            ours, ref = self.pick(i)
            self.pairs.append((getattr(ours, name)(), ref.unary(name)))

    @rule(i=INDEX, j=INDEX, op=st.sampled_from(sorted(BINARY)), numbers_first=st.booleans(),
          x=NUMBER, with_value=st.booleans())
    def binary(self, i, j, op, numbers_first, x, with_value):
        if not self.pairs:
            return
        a, ra = self.pick(i)
        b, rb = self.operand(with_value, j, x)
        if numbers_first and not with_value:
            ours = BINARY[op](b, a)
            ref = ra.rsub(b) if op == '-' else BINARY[op](ra, rb)
        else:
            ours, ref = BINARY[op](a, b), BINARY[op](ra, rb)
        self.pairs.append((ours, ref))

    @rule(picks=st.lists(st.tuples(st.booleans(), INDEX, NUMBER), min_size=1, max_size=4),
          kind=CONTAINER, bias=st.booleans())
    def dot(self, picks, kind, bias):
        ws = [self.operand(True, i, x) for _, i, x in picks]
        xs = [self.operand(with_value, i, x) for with_value, i, x in picks]
        b = self.pairs[0] if bias and self.pairs else None
        ours = mg.dot([w for w, _ in ws], feed(kind, [x for x, _ in xs]), b[0] if b else None)
        self.pairs.append((ours, Ref.dot([r for _, r in ws], [r for _, r in xs], b[1] if b else None)))

    @rule(nin=st.integers(1, 3), nouts=st.lists(st.integers(1, 3), min_size=1, max_size=2),
          activation=st.sampled_from(['relu', 'tanh', 'sigmoid']))
    def new_model(self, nin, nouts, activation):
        model = mg.nn.MLP(nin, nouts, activation=activation)
        for p in model.parameters():
            self.pairs.append((p, Ref(p.data)))
        self.models.append((model, None, activation))

    @rule(m=INDEX, inputs=st.lists(st.tuples(st.booleans(), INDEX, NUMBER), min_size=3, max_size=3),
          kind=CONTAINER)
    def call_model(self, m, inputs, kind):
        if not self.models:
            return
        model, _, _ = self.ref_weights(m)
        nin = len(model.layers[0].neurons[0].w)
        xs = [self.operand(with_value, i, x) for with_value, i, x in inputs[:nin]]
        while len(xs) < nin:
            xs.append((0.5, 0.5))
        out = model(feed(kind, [x for x, _ in xs]))
        ref = self.ref_forward(model, [r if isinstance(r, Ref) else Ref(r) for _, r in xs])
        for ours, twin in zip(out if isinstance(out, list) else [out], ref if isinstance(ref, list) else [ref]):
            self.pairs.append((ours, twin))

    @rule(loss=st.sampled_from(['mse', 'hinge', 'l2']), picks=st.lists(INDEX, min_size=1, max_size=4),
          labels=st.lists(NUMBER, min_size=4, max_size=4), kind=CONTAINER)
    def loss(self, loss, picks, labels, kind):
        if not self.pairs:
            return
        chosen = [self.pick(i) for i in picks]
        preds, refs = [p for p, _ in chosen], [r for _, r in chosen]
        ts = labels[:len(chosen)]
        if loss == 'hinge':
            ts = [1.0 if t >= 0 else -1.0 for t in ts]
        if loss == 'l2':
            ours = mg.losses.l2(feed(kind, preds))
        else:
            ours = getattr(mg.losses, loss)(feed(kind, preds), feed(kind, ts))
        ref = ref_loss(loss, refs, ts)
        self.pairs.append((ours, ref))

    @rule(picks=st.lists(INDEX, min_size=1, max_size=4), kind=CONTAINER)
    def softmax(self, picks, kind):
        if not self.pairs:
            return
        chosen = [self.pick(i) for i in picks]
        ours = mg.softmax(feed(kind, [v for v, _ in chosen]))
        self.pairs.extend(zip(ours, ref_softmax([r for _, r in chosen])))

    @rule(picks=st.lists(INDEX, min_size=1, max_size=6), cols=st.integers(1, 2),
          row=st.integers(0, 5), kind=CONTAINER)
    def embedding(self, picks, cols, row, kind):
        """A table of held Values (repeats allowed), a row chosen by a new leaf."""
        if not self.pairs:
            return
        entries = [self.pick(i) for i in picks]
        rows = max(len(entries) // cols, 1)
        entries = (entries * cols)[:rows * cols]
        table = [entries[r * cols:(r + 1) * cols] for r in range(rows)]
        index, index_ref = Value(row % rows), Ref(row % rows)
        self.pairs.append((index, index_ref))
        ours = mg.embedding((feed(kind, [v for v, _ in line]) for line in table), index)
        refs = [ref_select([line[j][1] for line in table], index_ref) for j in range(cols)]
        self.pairs.extend(zip(ours, refs))

    # -- lifetimes -------------------------------------------------------------

    @rule(i=INDEX)
    def drop(self, i):
        """Forget a Value (not one a model or an optimizer holds: the test needs its twin)."""
        if not self.pairs:
            return
        held = [p for m, _, _ in self.models for p in m.parameters()]
        held += [p for opt, _ in self.optimizers for p in opt.params]
        if not any(p is self.pick(i)[0] for p in held):
            del self.pairs[i % len(self.pairs)]

    @rule()
    def collect(self):
        # the young generations: a full collection takes 0.1 s once torch is imported
        gc.collect(1)

    @rule(i=INDEX)
    def backward(self, i):
        if self.pairs:
            ours, ref = self.pick(i)
            ours.backward()
            ref.backward()

    # -- optimizers and changes after use ---------------------------------------

    @rule(m=INDEX, lr=st.sampled_from([0.0, 0.01, 0.1]))
    def new_optimizer(self, m, lr):
        if self.models:
            model = self.models[m % len(self.models)][0]
            self.optimizers.append((mg.optim.SGD(model.parameters(), lr=lr), lr))

    @rule(o=INDEX, change=st.sampled_from(['none', 'append', 'pop', 'replace']), i=INDEX)
    def optimizer_step(self, o, change, i):
        if not self.optimizers:
            return
        opt, lr = self.optimizers[o % len(self.optimizers)]
        leaves = [pair for pair in self.pairs if not pair[1].children and pair[0] not in opt.params]
        if change == 'append' and leaves:
            opt.params.append(leaves[i % len(leaves)][0])
        elif change == 'pop' and len(opt.params) > 1:
            opt.params.pop()
        elif change == 'replace' and leaves:
            opt.params[i % len(opt.params)] = leaves[i % len(leaves)][0]
        opt.step()
        for p in opt.params:  # the reference: micrograd's p.data -= lr * p.grad
            twin = self.twin_of(p)
            twin.data = twin.data + -lr * twin.grad

    @rule(m=INDEX, where=st.sampled_from(['weight', 'bias', 'layer']), x=NUMBER)
    def change_model(self, m, where, x):
        if not self.models:
            return
        model = self.models[m % len(self.models)][0]
        neuron = model.layers[0].neurons[0]
        new = Value(x)
        self.pairs.append((new, Ref(x)))
        if where == 'weight':
            neuron.w[0] = new
        elif where == 'bias':
            neuron.b = new
        else:
            layer = mg.nn.Layer(len(model.layers[-1].neurons), 2)
            for p in layer.parameters():
                self.pairs.append((p, Ref(p.data)))
            model.layers.append(layer)

    @rule(m=INDEX, numbers=st.lists(NUMBER, min_size=6, max_size=6),
          mutation=st.sampled_from(['none', 'reverse', 'append']))
    def compile_and_replay(self, m, numbers, mutation):
        if not self.models:
            return
        model = self.models[m % len(self.models)][0]
        nin = len(model.layers[0].neurons[0].w)

        def loss_fn(X):
            if mutation == 'reverse':
                X[0].reverse()
            elif mutation == 'append':
                X[0].append(Value(1.0))
                X[0].pop()
            out = model(X[0])
            return mg.losses.l2(out if isinstance(out, list) else [out])

        step = mg.compile(loss_fn, np.zeros((1, nin)))
        row = numbers[:nin]
        loss = step(np.array([row]))
        x = list(reversed(row)) if mutation == 'reverse' else row
        out = self.ref_forward(model, [Ref(v) for v in x])
        ref = ref_loss('l2', out if isinstance(out, list) else [out], [])
        ref.backward()
        assert close(loss, ref.data, rel_tol=1e-9, abs_tol=1e-12), (loss, ref.data)

    @rule(m=INDEX, numbers=st.lists(NUMBER, min_size=40, max_size=40), bad=st.booleans())
    def load_state(self, m, numbers, bad):
        if not self.models:
            return
        model = self.models[m % len(self.models)][0]
        state = dict(zip(model.state_dict(), numbers))
        if len(state) < len(model.state_dict()):
            return
        if bad:
            state[list(state)[-1]] = 10**400
            try:
                model.load_state_dict(state)
            except ValueError:
                return
            raise AssertionError("a state dict with a huge int was accepted")
        model.load_state_dict(state)
        for (_, p), x in zip(model.named_parameters(), state.values()):
            self.twin_of(p).data = x

    # -- checks ----------------------------------------------------------------

    @invariant()
    def every_value_has_the_reference_data_and_grad(self):
        for ours, ref in getattr(self, 'pairs', []):
            assert close(ours.data, ref.data, rel_tol=1e-9, abs_tol=1e-12), (ours, ref.data)
            assert close(ours.grad, ref.grad, rel_tol=1e-9, abs_tol=1e-9), (ours, ref.grad)

    def teardown(self):
        if not hasattr(self, 'pairs'):
            return
        self.pairs = self.models = self.optimizers = None
        assert live_nodes() == self.baseline


TestEngineAgainstReference = EngineAgainstReference.TestCase
TestEngineAgainstReference.settings = (
    settings(stateful_step_count=100) if os.environ.get("HYPOTHESIS_PROFILE") == "long"
    else settings(max_examples=150, stateful_step_count=40))
