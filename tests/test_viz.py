"""draw_dot: the lecture's graph drawing, checked against a hand count of a small graph."""
import re
import sys

import pytest

from microgradc import Value
from microgradc.viz import draw_dot

NODE = re.compile(r'^\t(\S+) \[label=(.*?)( shape=record)?\]$', re.M)
EDGE = re.compile(r'^\t(\S+) -> (\S+)$', re.M)


def shared_graph():
    """L = relu((a*b + a)**2 as d*d + a*b): a, c = a*b and d are each used twice."""
    a = Value(2.0, label='a')
    b = Value(-3.0, label='b')
    c = a * b; c.label = 'c'      # -6
    d = c + a; d.label = 'd'      # -4, a used again
    e = d * d; e.label = 'e'      # 16, one child (d) twice: one edge, as micrograd's set
    f = e + c; f.label = 'f'      # 10, c used again
    L = f.relu(); L.label = 'L'   # 10
    L.backward()
    return L


def parse(source):
    """(records: name -> label, op nodes: name -> op, edges: [(tail, head)]) from DOT source."""
    records, ops = {}, {}
    for name, label, is_record in NODE.findall(source):
        (records if is_record else ops)[name] = label.strip('"')
    return records, ops, EDGE.findall(source)


def test_one_record_per_value_one_op_node_per_op_and_edges_child_op_value():
    records, ops, edges = parse(draw_dot(shared_graph()).source)
    # by hand: 7 Values (a b c d e f L), 5 made by an op (c d e f L),
    # 5 op -> value edges and 2 + 2 + 1 + 2 + 1 child -> op edges
    assert len(records) == 7
    assert len(ops) == 5
    assert len(edges) == 13
    label = {name: text.split(' | ')[0].strip('{ ') for name, text in records.items()}
    op_of = {}  # op node name -> (op, the Value it makes)
    for tail, head in edges:
        if tail in ops:
            op_of[tail] = (ops[tail], label[head])
    assert sorted(op_of.values()) == sorted(
        [('*', 'c'), ('+', 'd'), ('*', 'e'), ('+', 'f'), ('ReLU', 'L')])
    through = {(label[tail],) + op_of[head] for tail, head in edges if tail in records}
    assert through == {('a', '*', 'c'), ('b', '*', 'c'), ('a', '+', 'd'), ('c', '+', 'd'),
                       ('d', '*', 'e'), ('e', '+', 'f'), ('c', '+', 'f'), ('f', 'ReLU', 'L')}


def test_records_show_label_data_and_grad_to_four_places():
    source = draw_dot(shared_graph()).source
    # grads by hand: dL/df = dL/de = 1, dL/dd = 2d = -8, dL/dc = 1 + dL/dd = -7,
    # dL/da = dL/dd + b * dL/dc = -8 + 21 = 13, dL/db = a * dL/dc = -14
    for record in ['{ a | data 2.0000 | grad 13.0000 }', '{ b | data -3.0000 | grad -14.0000 }',
                   '{ c | data -6.0000 | grad -7.0000 }', '{ d | data -4.0000 | grad -8.0000 }',
                   '{ e | data 16.0000 | grad 1.0000 }', '{ f | data 10.0000 | grad 1.0000 }',
                   '{ L | data 10.0000 | grad 1.0000 }']:
        assert record in source


def test_left_to_right_by_default_top_to_bottom_on_request():
    assert 'rankdir=LR' in draw_dot(shared_graph()).source
    assert 'rankdir=TB' in draw_dot(shared_graph(), rankdir='TB').source
    with pytest.raises(ValueError):
        draw_dot(shared_graph(), rankdir='RL')


def test_renders_to_svg_with_the_dot_binary():
    svg = draw_dot(shared_graph()).pipe(format='svg').decode()
    assert svg.lstrip().startswith('<?xml') and '</svg>' in svg
    for text in ['grad 13.0000', 'ReLU', 'data 16.0000']:
        assert text in svg


def test_labels_with_record_syntax_characters_render_as_written():
    x = Value(1.5, label='x|{y}<z>')
    y = x.tanh(); y.label = 'tanh(x)'
    svg = draw_dot(y).pipe(format='svg').decode()
    assert 'x|{y}&lt;z&gt;' in svg
    assert 'tanh(x)' in svg


def test_deep_chain_draws_without_recursion():
    x = Value(1.0, label='x')
    y = x
    for _ in range(5_000):  # five times Python's recursion limit
        y = y + 1.0
    records, ops, edges = parse(draw_dot(y).source)
    # 5,000 sums and their 5,000 constants, plus x; one op node and three edges per sum
    assert (len(records), len(ops), len(edges)) == (10_001, 5_000, 15_000)


def test_without_graphviz_draw_dot_names_install_commands_that_work(monkeypatch):
    monkeypatch.setitem(sys.modules, 'graphviz', None)  # import graphviz now fails
    with pytest.raises(ImportError) as error:
        draw_dot(Value(1.0))
    # microgradc is not on the package index: pip install "microgradc[viz]" would fail
    assert 'pip install graphviz' in str(error.value)
    assert 'pip install -e ".[viz]"' in str(error.value)
    assert 'microgradc[viz]' not in str(error.value)
