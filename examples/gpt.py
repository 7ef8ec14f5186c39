"""A GPT on names: microgpt's model and training, written the microgradc way.

The model is microgpt's (Karpathy's GPT in about 200 lines of scalar Python): a
character-level vocabulary plus BOS, 16-dim embeddings, 4 heads of 4, context 16, one
layer, RMSNorm, a ReLU MLP 16 -> 64 -> 16, no biases, weights drawn from gauss(0, 0.08)
by random.Random(seed) in microgpt's order, about 4,200 parameters for 26 letters.
Training is microgpt's too: one name a step, the mean over its positions of
-log p(next character), Adam (beta1 0.85, beta2 0.99, lr 0.01 decaying linearly to 0
over the run). Then it samples 20 names at temperature 0.5.

What changes is how it is written: each linear layer is a microgradc.Linear (a fused
dot a row, one C call a layer), each attention score and weighted sum a dot, the
softmax one node a probability over a shared logsumexp (stable, with no max read from
.data), and the loss log-softmax as logsumexp - select. The numbers are microgpt's:
the first step's loss matches a scalar Value's to 1e-12.

With --compiled, the step is traced by microgradc.compile with the name's tokens as
inputs (embedding lookups and the target select their rows at run time), once per name
length, and replayed in C.

Data: --data FILE, one name a line. The default, examples/data/names.txt, is the 5,163
distinct first names of the US census lists that the `names` package (0.3.0, MIT)
ships, lowercased; see examples/data/NAMES.md. Nothing is downloaded.

    python -m examples.gpt [--steps N] [--compiled] [--data FILE] [--seed S] [--out DIR]

Training ends with the line `N steps in S s, mean loss of the last 100 steps L`; then
the sampled names, and the loss curve saved as a PNG.
"""
import argparse
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

import microgradc as mg

DATA = Path(__file__).resolve().parent / 'data' / 'names.txt'
N_LAYER, N_EMBD, BLOCK_SIZE, N_HEAD = 1, 16, 16, 4
HEAD_DIM = N_EMBD // N_HEAD
BETAS, EPS, LEARNING_RATE = (0.85, 0.99), 1e-8, 0.01


def load_docs(path=DATA, seed=42):
    """The names in path (one a line, blank lines skipped), shuffled by Random(seed)."""
    docs = [line.strip() for line in Path(path).read_text(encoding='utf-8').splitlines()]
    docs = [doc for doc in docs if doc]
    if not docs:
        raise ValueError(f"{path} has no names in it")
    random.Random(seed).shuffle(docs)
    return docs


class Tokenizer:
    """The characters of the docs, sorted, and BOS (one past them) around each name."""

    def __init__(self, docs):
        self.chars = sorted(set(''.join(docs)))
        self.bos = len(self.chars)
        self.vocab_size = len(self.chars) + 1
        self._index = {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, doc):
        """BOS, the name's characters, BOS; cut to the context (BLOCK_SIZE + 1 tokens)."""
        return ([self.bos] + [self._index[ch] for ch in doc] + [self.bos])[:BLOCK_SIZE + 1]


class GPT:
    """microgpt's model over microgradc Values; its weights drawn as microgpt draws them."""

    def __init__(self, vocab_size, seed=0):
        rng = random.Random(seed)

        def matrix(nout, nin, std=0.08):
            return [[mg.Value(rng.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]
        self.state_dict = {'wte': matrix(vocab_size, N_EMBD), 'wpe': matrix(BLOCK_SIZE, N_EMBD),
                           'lm_head': matrix(vocab_size, N_EMBD)}
        for i in range(N_LAYER):
            for name, shape in [('attn_wq', (N_EMBD, N_EMBD)), ('attn_wk', (N_EMBD, N_EMBD)),
                                ('attn_wv', (N_EMBD, N_EMBD)), ('attn_wo', (N_EMBD, N_EMBD)),
                                ('mlp_fc1', (4 * N_EMBD, N_EMBD)),
                                ('mlp_fc2', (N_EMBD, 4 * N_EMBD))]:
                self.state_dict[f'layer{i}.{name}'] = matrix(*shape)
        self.params = [p for mat in self.state_dict.values() for row in mat for p in row]
        self.linear = {name: mg.Linear(mat) for name, mat in self.state_dict.items()
                       if name not in ('wte', 'wpe')}

    def _layer(self, li):
        """name -> the Linear of layer li's weight matrix of that name."""
        return lambda name: self.linear[f'layer{li}.{name}']

    def __call__(self, token, pos, keys, values):
        """The logits after `token` (an int, or a Value holding one) at position pos; this
        position's keys and values are appended to keys[layer] and values[layer]."""
        x = [t + p for t, p in zip(mg.embedding(self.state_dict['wte'], token),
                                   self.state_dict['wpe'][pos])]
        x = rmsnorm(x)
        for li in range(N_LAYER):
            layer = self._layer(li)
            x_residual = x
            x = rmsnorm(x)
            q, k, v = layer('attn_wq')(x), layer('attn_wk')(x), layer('attn_wv')(x)
            keys[li].append(k)
            values[li].append(v)
            x_attn = []
            for h in range(0, N_EMBD, HEAD_DIM):
                q_h = q[h:h + HEAD_DIM]
                scores = [mg.dot(q_h, k_t[h:h + HEAD_DIM]) / HEAD_DIM ** 0.5 for k_t in keys[li]]
                weights = mg.softmax(scores)
                x_attn.extend(mg.dot(weights, [v_t[j] for v_t in values[li]])
                              for j in range(h, h + HEAD_DIM))
            x = [a + b for a, b in zip(layer('attn_wo')(x_attn), x_residual)]
            x_residual = x
            x = [xi.relu() for xi in layer('mlp_fc1')(rmsnorm(x))]
            x = [a + b for a, b in zip(layer('mlp_fc2')(x), x_residual)]
        return self.linear['lm_head'](x)

    def loss(self, tokens):
        """The mean over positions of -log p(tokens[pos + 1] | tokens up to pos): each a
        log-softmax, logsumexp(logits) - the target's logit. tokens: ints, or Values (the
        inputs of a compiled step) holding them."""
        n = len(tokens) - 1
        keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]
        losses = []
        for pos in range(n):
            logits = self(tokens[pos], pos, keys, values)
            losses.append(mg.logsumexp(logits) - mg.select(logits, tokens[pos + 1]))
        return (1 / n) * sum(losses)

    def sample(self, tokenizer, rng, temperature=0.5):
        """A name drawn character by character from softmax(logits / temperature)."""
        keys, values = [[] for _ in range(N_LAYER)], [[] for _ in range(N_LAYER)]
        token, name = tokenizer.bos, []
        for pos in range(BLOCK_SIZE):
            probs = mg.softmax([logit / temperature for logit in self(token, pos, keys, values)])
            token = rng.choices(range(tokenizer.vocab_size), weights=[p.data for p in probs])[0]
            if token == tokenizer.bos:
                break
            name.append(tokenizer.chars[token])
        return ''.join(name)


def rmsnorm(x):
    """x / sqrt(mean(x**2) + 1e-5), as microgpt writes it."""
    scale = (mg.dot(x, x) / len(x) + 1e-5) ** -0.5
    return [xi * scale for xi in x]


def trainer(model, tokenizer, docs, num_steps, compiled=False):
    """step(k): trains on docs[k % len(docs)] and returns its loss; Adam with lr
    LEARNING_RATE * (1 - k / num_steps), restarting every num_steps steps. compiled: the
    loss traced by microgradc.compile with the tokens as inputs, once per name length."""
    optimizer = mg.optim.Adam(model.params, lr=LEARNING_RATE, betas=BETAS, eps=EPS)
    traced = mg.compile(model.loss) if compiled else None

    def step(k):
        tokens = tokenizer.encode(docs[k % len(docs)])
        if traced is not None:
            loss = traced(np.array(tokens, dtype=np.float64))
        else:
            value = model.loss(tokens)
            value.backward()
            loss = value.data
        optimizer.lr = LEARNING_RATE * (1 - k % num_steps / num_steps)
        optimizer.step()
        optimizer.zero_grad()
        return loss
    step.traced = traced
    return step


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=1000, help='training steps (default 1000)')
    parser.add_argument('--compiled', action='store_true',
                        help='trace the step with microgradc.compile, replay it in C')
    parser.add_argument('--data', default=DATA, help='names, one a line (default: the census '
                        'first names in examples/data/names.txt)')
    parser.add_argument('--seed', type=int, default=42, help='shuffle, weights and samples')
    parser.add_argument('--out', default='examples-output',
                        help='directory for the loss curve (default: examples-output/)')
    args = parser.parse_args()
    if args.steps < 1:
        parser.error('--steps must be at least 1')
    os.makedirs(args.out, exist_ok=True)
    return args


def main():
    # the plots and the progress bar: the command line's alone (the model needs neither)
    from examples.common import plt, progress, run_name, save
    args = parse_args()
    try:
        docs = load_docs(args.data, args.seed)
    except (OSError, ValueError) as error:
        sys.exit(f'examples.gpt: {error}')
    tokenizer = Tokenizer(docs)
    model = GPT(tokenizer.vocab_size, args.seed)
    print(f'{len(docs)} names, vocabulary {tokenizer.vocab_size}, '
          f'{len(model.params)} parameters{", compiled" if args.compiled else ""}')
    step = trainer(model, tokenizer, docs, args.steps, args.compiled)
    losses = []
    start = time.perf_counter()
    for k in progress(range(args.steps), desc='training'):
        losses.append(step(k))
    seconds = time.perf_counter() - start
    print(f'{args.steps} steps in {seconds:.2f} s, mean loss of the last 100 steps '
          f'{np.mean(losses[-100:]):.4f}')

    rng = random.Random(args.seed)
    print('samples:', ' '.join(model.sample(tokenizer, rng) for _ in range(20)))
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(losses, linewidth=0.5, alpha=0.5, label='a step')
    window = min(100, len(losses))
    axes.plot(range(window - 1, len(losses)),
              np.convolve(losses, np.ones(window) / window, mode='valid'),
              label=f'mean of {window}')
    axes.set(xlabel='step (one name)', ylabel='mean -log p(next character)', title='training loss')
    axes.legend()
    print(f'loss curve: {save(figure, args.out, run_name("gpt", args) + "-loss.png")}')


if __name__ == '__main__':
    main()
