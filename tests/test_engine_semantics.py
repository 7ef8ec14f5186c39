"""What a Value is and how backward() accumulates, as micrograd defines it."""
import micrograd.engine
import numpy as np
import pytest

from microgradc import Value

REFERENCE = micrograd.engine.Value

# ---------------------------------------------------------------------------
# reused nodes and accumulation


def test_value_added_to_itself_gets_grad_two():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0


def test_reused_intermediate_node_accumulates_grad_four():
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert b.grad == 2.0
    assert a.grad == 4.0


def test_value_multiplied_by_itself_gets_grad_two_x():
    a = Value(-1.5)
    b = a * a
    b.backward()
    assert a.grad == 2 * -1.5


def all_nodes(root):
    """Every node reachable from root through _prev, as a set."""
    seen, stack = {root}, [root]
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def shared_graph(Value):
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = c + a
    e = d * d + c.relu() + (b**2).relu()
    return a, b, c, d, e


def test_grads_accumulate_across_two_backward_calls_like_micrograd():
    ours, ref = shared_graph(Value), shared_graph(REFERENCE)
    for _ in range(2):
        ours[-1].backward()
        ref[-1].backward()
    assert [v.grad for v in ours] == [v.grad for v in ref]
    assert [v.data for v in ours] == [v.data for v in ref]


def test_zeroing_every_grad_between_backward_calls_gives_the_single_call_result():
    *_, e = shared_graph(Value)
    nodes = all_nodes(e)
    e.backward()
    first = {v: v.grad for v in nodes}
    for v in nodes:
        v.grad = 0.0
    e.backward()
    assert {v: v.grad for v in nodes} == first


# ---------------------------------------------------------------------------
# _prev, _op, label, repr


def test_leaf_has_no_children_and_empty_op_like_micrograd():
    assert Value(1.0)._prev == REFERENCE(1.0)._prev == set()
    assert Value(1.0)._op == REFERENCE(1.0)._op == ""


def test_prev_is_the_set_of_children():
    a, b = Value(1.0), Value(2.0)
    assert (a * b)._prev == {a, b}
    assert (a + a)._prev == {a}
    assert a in (a * 3)._prev
    assert (a.tanh())._prev == {a}


@pytest.mark.parametrize(
    "expression, op",
    [
        (lambda a, b: a + b, "+"),
        (lambda a, b: a * b, "*"),
        (lambda a, b: a**2, "**2"),
        (lambda a, b: a**2.0, "**2.0"),
        (lambda a, b: a**-1, "**-1"),
        (lambda a, b: a**0.5, "**0.5"),
        (lambda a, b: a.relu(), "ReLU"),
    ],
)
def test_op_string_equals_micrograds(expression, op):
    assert expression(Value(2.0), Value(3.0))._op == expression(REFERENCE(2.0), REFERENCE(3.0))._op == op


@pytest.mark.parametrize(
    "expression, op",
    [
        (lambda a, b: a - b, "-"),
        (lambda a, b: a / b, "/"),
        (lambda a, b: -a, "neg"),
        (lambda a, b: a**b, "**"),
        (lambda a, b: 2**a, "**"),
        (lambda a, b: a.tanh(), "tanh"),
        (lambda a, b: a.exp(), "exp"),
        (lambda a, b: a.log(), "log"),
        (lambda a, b: a.sigmoid(), "sigmoid"),
    ],
)
def test_op_string_of_ops_micrograd_lacks_or_composes_is_the_specs(expression, op):
    assert expression(Value(2.0), Value(3.0))._op == op


def test_label_is_given_defaults_to_empty_and_can_be_set():
    a = Value(2.0, label="a")
    assert a.label == "a"
    assert Value(2.0).label == (a * 2).label == ""
    a.label = "e"
    assert a.label == "e"


def test_repr_prints_what_micrograd_prints():
    for data in (0.1, 2, -3, 2.5, 0):
        assert repr(Value(data)) == repr(REFERENCE(data))  # Value(data=2, grad=0)
    ours, ref = Value(0.1), REFERENCE(0.1)
    ours_out, ref_out = ours * 0.2 + ours, ref * 0.2 + ref
    ours_out.backward()
    ref_out.backward()
    assert repr(ours) == repr(ref)
    # the one documented difference: micrograd seeds the root with the int 1
    assert repr(ref_out).endswith("grad=1)")
    assert repr(ours_out) == repr(ref_out)[:-len("1)")] + "1.0)"
    ours_int, ref_int = Value(4), REFERENCE(4)
    ours_int.data = 7
    ref_int.data = 7
    assert repr(ours_int) == repr(ref_int) == "Value(data=7, grad=0)"
    ours_int.data = 7.0
    ref_int.data = 7.0
    assert repr(ours_int) == repr(ref_int)


def test_data_and_grad_are_python_floats():
    v = Value(3)
    assert type(v.data) is float and v.data == 3.0
    assert type(v.grad) is float and v.grad == 0.0


# ---------------------------------------------------------------------------
# facades: two Python objects for one node


def test_two_facades_of_one_node_are_equal_hash_alike_and_share_state():
    a = Value(1.0)
    c = a.relu()
    first, second = next(iter(c._prev)), next(iter(c._prev))
    assert first == second == a
    assert hash(first) == hash(second) == hash(a)
    first.label, first.grad = "x", 5.0
    assert (a.label, a.grad) == ("x", 5.0)


def test_distinct_nodes_with_equal_data_are_not_equal_like_micrograd():
    assert (Value(1.0) == Value(1.0)) is (REFERENCE(1.0) == REFERENCE(1.0)) is False
    assert len({Value(1.0), Value(1.0)}) == 2


def test_set_of_nodes_reached_through_prev_of_a_shared_graph_has_micrograds_size():
    def graph(Value):
        x = [Value(float(i)) for i in range(4)]
        h = x[0] * x[1] + x[2]
        k = (h * h + x[0]).relu() * h + x[3] ** 2
        return k * k + h

    assert len(all_nodes(graph(Value))) == len(all_nodes(graph(REFERENCE))) == 14  # 4 leaves, 10 ops


# ---------------------------------------------------------------------------
# numbers: numpy scalars and setting data/grad

NUMPY_SCALARS = [np.float64(2.0), np.int64(2), np.float32(2.0), np.bool_(True)]


@pytest.mark.parametrize("number", NUMPY_SCALARS, ids=lambda n: type(n).__name__)
def test_numpy_scalar_is_accepted_on_either_side(number):
    v = Value(3.0)
    for out, expected in [
        (number * v, 3.0 * float(number)),
        (v * number, 3.0 * float(number)),
        (number + v, 3.0 + float(number)),
        (v - number, 3.0 - float(number)),
        (number - v, float(number) - 3.0),
        (v / number, 3.0 / float(number)),
        (number / v, float(number) / 3.0),
        (v**number, 3.0 ** float(number)),
    ]:
        assert isinstance(out, Value)
        assert out.data == expected


@pytest.mark.parametrize("number", NUMPY_SCALARS, ids=lambda n: type(n).__name__)
def test_numpy_scalar_makes_a_leaf_with_float_data(number):
    v = Value(number)
    assert type(v.data) is float and v.data == float(number)


def test_numpy_scalar_times_value_backpropagates():
    v = Value(3.0)
    out = np.float64(2.0) * v
    out.backward()
    assert v.grad == 2.0


def test_setting_data_and_grad_stores_floats_used_by_later_ops():
    v = Value(1.0)
    v.data = 4
    v.grad = np.float64(2.5)
    assert type(v.data) is float and v.data == 4.0
    assert type(v.grad) is float and v.grad == 2.5
    assert (v * 2).data == 8.0
    v.data -= 0.5 * v.grad  # the training loop's update
    assert v.data == 2.75


def test_a_subclass_of_value_on_the_right_keeps_operand_order_like_micrograd():
    # Python asks a subclass's reflected method first (b.__rsub__(a) for a - b); the
    # result must still be a - b, as micrograd's a - b is.
    class Labelled(Value):
        __slots__ = ()

    class LabelledReference(micrograd.engine.Value):
        pass

    def results(Left, Right):
        a, b = Left(5.0), Right(2.0)
        return [(a - b).data, (a / b).data, (a * b).data, (a + b).data, (a ** b.data).data]

    assert results(Value, Labelled) == results(micrograd.engine.Value, LabelledReference)
    assert (Value(3.0) ** Labelled(2.0)).data == 9.0  # Value ** Value, micrograd has none
