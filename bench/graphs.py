"""Graph builders, engine-agnostic: each takes a leaf maker (a Value class) and
returns (root, ops); and node counters for micrograd-style Values and for torch.

`ops` counts the operations the builder applied (one per `+ - * / **` and
`relu()`), the same for every engine. How many nodes those operations make is
the engine's business (micrograd turns `1 - y` into four nodes), so nodes are
counted separately.
"""

MOTIF_OPS = 10  # operations in one motif of mixed_graph


def mixed_graph(Value, lanes, motifs=5, pool=64):
    """mixed_graph_over `pool` new leaves Value(x), x in [0.5, 1.5)."""
    leaves = [Value(0.5 + (0.618 * i) % 1.0) for i in range(pool)]
    return mixed_graph_over(leaves, lanes, motifs)


def mixed_graph_over(leaves, lanes, motifs=5):
    """A sum of `lanes` independent lanes, each `motifs` x 10 mixed ops long.

    The lanes read the shared `leaves`, and inside a motif `s` and `x` are each
    used twice, so nodes are shared at every scale. Every op kind appears with a
    Value and with a number on either side. Each motif maps |x| <= 1.5 to
    |x| <= 1.5 and divides only by s + 1 >= 1 or 3, so no engine meets an
    overflow or a division by zero. The lanes are summed in a balanced tree, so
    depth stays near 12 nodes a motif plus log2(lanes): far below micrograd's
    recursion limit.
    """
    pool = len(leaves)
    lane_outputs = []
    for lane in range(lanes):
        x = leaves[lane % pool]
        for motif in range(motifs):
            a = leaves[(7 * lane + motif) % pool]
            b = leaves[(13 * lane + 3 * motif + 1) % pool]
            s = x ** 2
            y = s / (s + 1)  # in [0, 1)
            y = y * a
            y = y - b
            y = 2 * y
            y = y.relu()
            y = y + x
            y = 1 - y
            x = y / 3
        lane_outputs.append(x)
    return balanced_sum(lane_outputs), lanes * motifs * MOTIF_OPS + lanes - 1


def balanced_sum(values):
    """Sum pairwise, level by level: len(values) - 1 additions, depth log2(len(values))."""
    while len(values) > 1:
        pairs = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        values = pairs + values[2 * len(pairs):]
    return values[0]


def chain(Value, ops):
    """x = x * c + a, ops / 2 times: one chain `ops` nodes deep (the test suite's)."""
    x, a = Value(1.0), Value(0.5)
    for _ in range(ops // 2):
        x = x * 1.0000001 + a
    return x, ops // 2 * 2


def count_nodes(root):
    """The number of distinct nodes reachable from root through _prev (iteratively)."""
    seen = {root}
    stack = [root]
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


def count_torch_nodes(root):
    """The number of distinct autograd nodes (grad_fn and AccumulateGrad) behind a tensor."""
    seen = {root.grad_fn}
    stack = [root.grad_fn]
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)
