"""Bad input is a clear Python error, never a crash or a silent conversion."""
import pytest

from microgradc import Value


@pytest.mark.parametrize(
    "data, type_name",
    [("x", "str"), (None, "NoneType"), ([1], "list"), (1 + 2j, "complex"), (Value(1.0), "Value")],
    ids=["str", "None", "list", "complex", "Value"],
)
def test_value_of_a_non_number_raises_type_error_naming_the_type(data, type_name):
    with pytest.raises(TypeError, match=type_name):
        Value(data)


def test_value_of_an_int_too_large_for_a_float_raises_overflow_error():
    with pytest.raises(OverflowError):
        Value(10**400)


@pytest.mark.parametrize(
    "operation",
    [
        lambda v: v + "x",
        lambda v: "x" + v,
        lambda v: "x" * v,
        lambda v: v * [2],
        lambda v: v - None,
        lambda v: v / "x",
        lambda v: v ** "x",
        lambda v: v ** [2],
        lambda v: "x" ** v,
        lambda v: v + 1j,
    ],
    ids=["v+str", "str+v", "str*v", "v*list", "v-None", "v/str", "v**str", "v**list", "str**v", "v+complex"],
)
def test_op_with_an_unsupported_operand_raises_type_error(operation):
    with pytest.raises(TypeError):
        operation(Value(2.0))


def test_setting_data_or_grad_to_a_non_number_raises_type_error():
    v = Value(1.0)
    with pytest.raises(TypeError):
        v.data = "x"
    with pytest.raises(TypeError):
        v.grad = None
    assert (v.data, v.grad) == (1.0, 0.0)


def test_setting_label_to_a_non_string_raises_type_error():
    v = Value(1.0, label="a")
    with pytest.raises(TypeError):
        v.label = 3
    assert v.label == "a"


def test_values_have_no_ordering_like_micrograd():
    v, w = Value(1.0), Value(2.0)
    for compare in (lambda: v < w, lambda: v <= w, lambda: v > 1.0, lambda: 1.0 >= v):
        with pytest.raises(TypeError):
            compare()
