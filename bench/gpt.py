"""microgpt's training step: a one-layer character GPT, one document (a name) a step.

The model is microgpt's (Karpathy's GPT in pure Python on scalar Values): a vocabulary
of the data's characters plus BOS, n_embd 16, 4 heads of 4, block 16, 1 layer,
RMSNorm, a ReLU MLP 16 -> 64 -> 16, no biases, weights drawn from gauss(0, 0.08). A
step takes one document: the forward position by position (keys and values cached),
loss = (1/n) * the sum of each position's -log p(next token), the backward, and Adam
(beta1 0.85, beta2 0.99, eps 1e-8, lr 0.01 decaying linearly over 1,000 steps)
written in plain Python over the parameter list.

Data: microgpt trains on a list of real names (names.txt). Nothing is downloaded
here: the documents are synthetic lowercase "names" drawn from a seeded
random.Random, all NAME_LENGTH letters long (names.txt's mean is about 6.1), so
every step builds a graph of the same size (about 60,000 nodes) and an engine that
times one step times the same work as one that times a hundred. --quick uses
2-letter names.
  micrograd: microgpt's own scalar Value (data, grad, _children, _local_grads; a
      recursive topological sort; micrograd 0.1.0's Value has no log or exp),
      written out here as MicrogptValue; its column runs where micrograd is
      installed, as every micrograd column does;
  drop-in: the very same model and training code, on microgradc.engine.Value;
  nn: examples/gpt.py, the model written the microgradc way (Linear layers, fused
      dots, softmax and log-softmax nodes; microgradc.optim.Adam), eager;
  compiled: the same, its step traced by microgradc.compile with the tokens as
      inputs (one trace here: every name has one length), replayed in C;
  torch: the same model, weights (the same draws from the same seed) and training in
      PyTorch, float64, on one thread: a document's positions as one batch of (n, 16)
      tensors, attention under a causal mask, F.cross_entropy, torch.optim.Adam (its
      step count restarted with microgpt's bias correction); its losses match
      microgpt's own Value's to rounding.
"""
import math
import random
import string
import time

from .timing import Metric, Workload, training_sample

NAME_LENGTH, QUICK_NAME_LENGTH = 6, 2  # letters a document; a step predicts one more
DOCS = 1000                            # documents, one a step, cycled
NUM_STEPS = 1000                       # the learning rate decays to 0 over these, then restarts
MIN_SECONDS, QUICK_MIN_SECONDS = 2.0, 0.05  # a sample's steps fill at least this


class MicrogptValue:
    """A scalar and its gradient, written as microgpt writes its Value: each node keeps
    its children and the local gradients d(node)/d(child), and backward() applies the
    chain rule over a recursive topological sort."""
    __slots__ = ('_children', '_local_grads', 'data', 'grad')

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, MicrogptValue) else MicrogptValue(other)
        return MicrogptValue(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, MicrogptValue) else MicrogptValue(other)
        return MicrogptValue(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other):
        return MicrogptValue(self.data ** other, (self,), (other * self.data ** (other - 1),))

    def log(self):
        return MicrogptValue(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return MicrogptValue(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return MicrogptValue(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self):
        return self * -1

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return other * self ** -1

    def backward(self):
        # The recursion goes as deep as the path it walks, not as the graph is large: a
        # step's graph has about 60,000 nodes (27,000 with --quick's names), but
        # build_topo goes 184 frames deep at most (measured; 193 for a 15-letter name,
        # the longest block 16 allows), well under Python's default limit of 1,000, so
        # sys.setrecursionlimit is left alone.
        topo = []
        visited = set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad


def names(length, seed=42):
    """DOCS synthetic lowercase names, each `length` letters, from random.Random(seed)."""
    rng = random.Random(seed)
    return [''.join(rng.choice(string.ascii_lowercase) for _ in range(length))
            for _ in range(DOCS)]


N_LAYER, N_EMBD, BLOCK_SIZE, N_HEAD = 1, 16, 16, 4  # microgpt's model
HEAD_DIM = N_EMBD // N_HEAD


def parameters(docs, seed, matrix_of):
    """microgpt's tokenizer and weights: (the data's characters, BOS = their count,
    state_dict). Each matrix is drawn row by row from random.Random(seed).gauss(0, 0.08),
    in microgpt's order, and made by matrix_of(rows of floats)."""
    rng = random.Random(seed)
    uchars = sorted(set(''.join(docs)))
    vocab_size = len(uchars) + 1

    def matrix(nout, nin, std=0.08):
        return matrix_of([[rng.gauss(0, std) for _ in range(nin)] for _ in range(nout)])
    state_dict = {'wte': matrix(vocab_size, N_EMBD), 'wpe': matrix(BLOCK_SIZE, N_EMBD),
                  'lm_head': matrix(vocab_size, N_EMBD)}
    for i in range(N_LAYER):
        state_dict[f'layer{i}.attn_wq'] = matrix(N_EMBD, N_EMBD)
        state_dict[f'layer{i}.attn_wk'] = matrix(N_EMBD, N_EMBD)
        state_dict[f'layer{i}.attn_wv'] = matrix(N_EMBD, N_EMBD)
        state_dict[f'layer{i}.attn_wo'] = matrix(N_EMBD, N_EMBD)
        state_dict[f'layer{i}.mlp_fc1'] = matrix(4 * N_EMBD, N_EMBD)
        state_dict[f'layer{i}.mlp_fc2'] = matrix(N_EMBD, 4 * N_EMBD)
    return uchars, len(uchars), state_dict


def microgpt(Value, docs, seed=0):
    """microgpt's model, forward and training loop body on `Value`, its weights drawn
    from random.Random(seed); returns (step(k), facts). step(k) trains on document k
    (cycled) and returns the loss as a float."""
    uchars, BOS, state_dict = parameters(
        docs, seed, lambda rows: [[Value(x) for x in row] for row in rows])
    n_layer, block_size, n_head, head_dim = N_LAYER, BLOCK_SIZE, N_HEAD, HEAD_DIM
    params = [p for mat in state_dict.values() for row in mat for p in row]

    # the model
    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    def softmax(logits):
        max_val = max(val.data for val in logits)
        exps = [(val - max_val).exp() for val in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def rmsnorm(x):
        ms = sum(xi * xi for xi in x) / len(x)
        scale = (ms + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def gpt(token_id, pos_id, keys, values):
        tok_emb = state_dict['wte'][token_id]
        pos_emb = state_dict['wpe'][pos_id]
        x = [t + p for t, p in zip(tok_emb, pos_emb)]
        x = rmsnorm(x)
        for li in range(n_layer):
            # 1) multi-head attention
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, state_dict[f'layer{li}.attn_wq'])
            k = linear(x, state_dict[f'layer{li}.attn_wk'])
            v = linear(x, state_dict[f'layer{li}.attn_wv'])
            keys[li].append(k)
            values[li].append(v)
            x_attn = []
            for h in range(n_head):
                hs = h * head_dim
                q_h = q[hs:hs + head_dim]
                k_h = [ki[hs:hs + head_dim] for ki in keys[li]]
                v_h = [vi[hs:hs + head_dim] for vi in values[li]]
                attn_logits = [sum(q_h[j] * k_h[t][j] for j in range(head_dim)) / head_dim ** 0.5
                               for t in range(len(k_h))]
                attn_weights = softmax(attn_logits)
                head_out = [sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h)))
                            for j in range(head_dim)]
                x_attn.extend(head_out)
            x = linear(x_attn, state_dict[f'layer{li}.attn_wo'])
            x = [a + b for a, b in zip(x, x_residual)]
            # 2) MLP
            x_residual = x
            x = rmsnorm(x)
            x = linear(x, state_dict[f'layer{li}.mlp_fc1'])
            x = [xi.relu() for xi in x]
            x = linear(x, state_dict[f'layer{li}.mlp_fc2'])
            x = [a + b for a, b in zip(x, x_residual)]
        return linear(x, state_dict['lm_head'])

    # Adam's buffers
    learning_rate, beta1, beta2, eps_adam = 0.01, 0.85, 0.99, 1e-8
    m = [0.0] * len(params)
    v = [0.0] * len(params)

    def step(k):
        step_num = k % NUM_STEPS  # microgpt's 1,000 steps of decay, over and over

        # one document, tokenized, BOS on both sides
        doc = docs[k % len(docs)]
        tokens = [BOS] + [uchars.index(ch) for ch in doc] + [BOS]
        n = min(block_size, len(tokens) - 1)

        # forward: the loss of each next token
        keys, values = [[] for _ in range(n_layer)], [[] for _ in range(n_layer)]
        losses = []
        for pos_id in range(n):
            token_id, target_id = tokens[pos_id], tokens[pos_id + 1]
            logits = gpt(token_id, pos_id, keys, values)
            probs = softmax(logits)
            loss_t = -probs[target_id].log()
            losses.append(loss_t)
        loss = (1 / n) * sum(losses)

        # backward
        loss.backward()

        # Adam update
        lr_t = learning_rate * (1 - step_num / NUM_STEPS)
        for i, p in enumerate(params):
            m[i] = beta1 * m[i] + (1 - beta1) * p.grad
            v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2
            m_hat = m[i] / (1 - beta1 ** (step_num + 1))
            v_hat = v[i] / (1 - beta2 ** (step_num + 1))
            p.data -= lr_t * m_hat / (v_hat ** 0.5 + eps_adam)
            p.grad = 0

        return float(loss.data)

    return step, {}


def micrograd_setup(docs):
    """microgpt on its own Value."""
    return microgpt(MicrogptValue, docs)


def drop_in_setup(docs):
    """microgpt, its Value microgradc's."""
    from microgradc.engine import Value
    return microgpt(Value, docs)


def torch_setup(docs, seed=0):
    """microgpt's model and training in PyTorch, float64, on the threads torch has (one:
    load_engines sets it), its weights drawn as microgpt() draws them: a document's
    positions go through as one batch, (n, 16) tensors, attention under a causal mask;
    F.cross_entropy; torch.optim.Adam. Returns (step(k), facts); step(k) trains on
    document k (cycled) and returns the loss as a float."""
    import torch
    import torch.nn.functional as F
    uchars, BOS, state_dict = parameters(
        docs, seed, lambda rows: torch.tensor(rows, dtype=torch.float64, requires_grad=True))
    n_layer, n_embd, block_size, n_head, head_dim = N_LAYER, N_EMBD, BLOCK_SIZE, N_HEAD, HEAD_DIM
    positions = torch.arange(block_size)
    causal = torch.ones(block_size, block_size, dtype=torch.bool).tril()

    # the model, over a document's n positions at once
    def rmsnorm(x):
        ms = (x * x).mean(dim=-1, keepdim=True)
        return x * (ms + 1e-5) ** -0.5

    def heads(x, w):
        """x's projection by w, as (n_head, n, head_dim)."""
        return F.linear(x, w).view(len(x), n_head, head_dim).transpose(0, 1)

    def gpt(token_ids):
        n = len(token_ids)
        tok_emb = F.embedding(token_ids, state_dict['wte'])
        pos_emb = F.embedding(positions[:n], state_dict['wpe'])
        x = tok_emb + pos_emb
        x = rmsnorm(x)
        for li in range(n_layer):
            # 1) multi-head attention, each position attending to itself and those before
            x_residual = x
            x = rmsnorm(x)
            q = heads(x, state_dict[f'layer{li}.attn_wq'])
            k = heads(x, state_dict[f'layer{li}.attn_wk'])
            v = heads(x, state_dict[f'layer{li}.attn_wv'])
            attn_logits = q @ k.transpose(1, 2) / head_dim ** 0.5
            attn_weights = attn_logits.masked_fill(~causal[:n, :n], float('-inf')).softmax(dim=-1)
            x_attn = (attn_weights @ v).transpose(0, 1).reshape(n, n_embd)
            x = F.linear(x_attn, state_dict[f'layer{li}.attn_wo']) + x_residual
            # 2) MLP
            x_residual = x
            x = rmsnorm(x)
            x = F.linear(x, state_dict[f'layer{li}.mlp_fc1']).relu()
            x = F.linear(x, state_dict[f'layer{li}.mlp_fc2']) + x_residual
        return F.linear(x, state_dict['lm_head'])

    learning_rate = 0.01
    opt = torch.optim.Adam(state_dict.values(), lr=learning_rate, betas=(0.85, 0.99), eps=1e-8)

    def step(k):
        step_num = k % NUM_STEPS

        # one document, tokenized, BOS on both sides
        doc = docs[k % len(docs)]
        tokens = [BOS] + [uchars.index(ch) for ch in doc] + [BOS]
        n = min(block_size, len(tokens) - 1)
        tokens = torch.tensor(tokens[:n + 1])

        # forward, the mean loss of each next token, backward
        loss = F.cross_entropy(gpt(tokens[:-1]), tokens[1:])
        opt.zero_grad()
        loss.backward()

        # Adam update; microgpt's bias correction restarts with its step_num, so the
        # step count does too (each sample's step(0), and every NUM_STEPS steps)
        if step_num == 0:
            for state in opt.state.values():
                state['step'].zero_()
        opt.param_groups[0]['lr'] = learning_rate * (1 - step_num / NUM_STEPS)
        opt.step()

        return loss.item()

    return step, {'threads': torch.get_num_threads()}


def example_setup(docs, compiled, seed=0):
    """examples/gpt.py's model and trainer (fused layers, softmax and loss; compiled: the
    step traced once per name length), its weights drawn as microgpt() draws them.
    Returns (step(k), facts); with compiled, facts hold the first step's time, trace
    included, and the program's size."""
    from examples.gpt import GPT, Tokenizer, trainer
    tokenizer = Tokenizer(docs)
    model = GPT(tokenizer.vocab_size, seed)
    step = trainer(model, tokenizer, docs, NUM_STEPS, compiled=compiled)
    if not compiled:
        return step, {}
    start = time.perf_counter()
    step(0)  # traces the documents' one length, and trains a step
    return step, {'compile_s': time.perf_counter() - start, 'slots': step.traced.slots}


SETUPS = {'micrograd': micrograd_setup, 'drop-in': drop_in_setup,
          'nn': lambda docs: example_setup(docs, compiled=False),
          'compiled': lambda docs: example_setup(docs, compiled=True), 'torch': torch_setup}


def workload(quick):
    """The gpt Workload; --quick trains on 2-letter names, a few steps a sample."""
    docs = names(QUICK_NAME_LENGTH if quick else NAME_LENGTH)
    min_seconds = QUICK_MIN_SECONDS if quick else MIN_SECONDS

    def measure(setup):
        return lambda: training_sample(lambda: setup(docs), min_seconds, also_paused=True)

    return Workload(
        name='gpt',
        title=f"microgpt step: 1-layer GPT (n_embd 16, 4 heads, block 16), a synthetic "
              f"{len(docs[0])}-letter name, Adam; micrograd runs microgpt's own Value",
        metrics=[
            Metric('step_s', 'step (ms)', scale=1e3, chart=True),
            Metric('step_s_gc_paused', 'step, collector paused (ms)', scale=1e3),
            Metric('compile_s', 'first step, with its trace (ms)', scale=1e3, ratios=False),
        ],
        measures={engine: measure(setup) for engine, setup in SETUPS.items()},
    )
