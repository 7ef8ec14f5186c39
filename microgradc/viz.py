"""Drawing a graph of Values with graphviz, as in the lecture.

    from microgradc.viz import draw_dot
    draw_dot(loss).render('graph')  # graph.svg: one box per Value, one small node per op

graphviz is optional (pip install graphviz; in a clone of microgradc,
pip install -e ".[viz]" brings it too); it is imported only when draw_dot is
called, so microgradc works without it. Rendering also needs the graphviz binary.
"""
import re

from .engine import Value


def _record_text(text):
    """text shown as is inside a graphviz record: its field syntax characters escaped."""
    return re.sub(r'([\\{}|<>])', r'\\\1', text)


def trace(root):
    """Every Value reachable from root, and every (child, parent) edge, without recursion."""
    nodes, edges, stack = {root}, set(), [root]
    while stack:
        value = stack.pop()
        for child in value._prev:
            edges.add((child, value))
            if child not in nodes:  # Values compare by node, so a shared node is seen once
                nodes.add(child)
                stack.append(child)
    return nodes, edges


def draw_dot(root, format='svg', rankdir='LR'):
    """The graph that computes root as a graphviz.Digraph (render it, or show it in a notebook).

    Each Value is a record '{ label | data 1.0000 | grad 0.0000 }'; a Value made by an op
    gets a small node named by its _op, with edges child -> op -> value.
    format: the output format of dot.render() and dot.pipe(); rankdir: 'LR' left to right,
    'TB' top to bottom.
    Returns a graphviz.Digraph. Raises TypeError if root is not a Value, ImportError if the
    graphviz package is missing and ValueError for another rankdir.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot draws the graph of a Value, not of {type(root).__name__}")
    try:
        from graphviz import Digraph
    except ImportError as error:
        raise ImportError('draw_dot needs the graphviz package: pip install graphviz (in a clone '
                          'of microgradc, pip install -e ".[viz]" brings it too)') from error
    if rankdir not in ('LR', 'TB'):
        raise ValueError(f"rankdir must be 'LR' or 'TB', not {rankdir!r}")
    nodes, edges = trace(root)
    dot = Digraph(format=format, graph_attr={'rankdir': rankdir})
    # a node is named by its hash (its id in C): stable, where id() of a facade from _prev
    # is not; sorting by it lists children before parents, so the source reads in order
    for value in sorted(nodes, key=hash):
        name = str(hash(value))
        fields = (_record_text(value.label), value.data, value.grad)
        dot.node(name=name, label="{ %s | data %.4f | grad %.4f }" % fields, shape='record')
        if value._op:
            dot.node(name=name + 'op', label=value._op)
            dot.edge(name + 'op', name)
    for child, parent in sorted(edges, key=lambda edge: (hash(edge[1]), hash(edge[0]))):
        dot.edge(str(hash(child)), str(hash(parent)) + 'op')
    return dot
