"""microgradc.nn and microgradc.dot against micrograd.nn (micrograd==0.1.0) and torch float64.

With the same random.seed, our Neuron/Layer/MLP draw micrograd's exact weights
in micrograd's order, print micrograd's reprs, and (for micrograd's relu MLP)
compute bit-identical outputs; gradients agree to rounding (accumulation order
may differ). The activations micrograd lacks (tanh, sigmoid) are checked
against the same network written in torch float64, with weights drawn from
random.uniform in the documented init order.
"""
import pickle
import random

import micrograd.engine
import micrograd.nn
import pytest
import torch

import microgradc
import microgradc.nn
from helpers import close, mismatches
from microgradc import Value

REFERENCE = micrograd.engine.Value

# grads are O(1) sums whose accumulation order may differ from micrograd's; the
# absolute floor only matters where a sum cancels to (nearly) zero
GRAD_ABS_TOL = 1e-14


def data_of(values):
    return [v.data for v in values]


def grads_of(values):
    return [v.grad for v in values]


def twin_models(seed, class_name, *args, **kwargs):
    """The same module (class_name of nn, with args) built by us and by micrograd from random.seed(seed)."""
    random.seed(seed)
    ours = getattr(microgradc.nn, class_name)(*args, **kwargs)
    random.seed(seed)
    reference = getattr(micrograd.nn, class_name)(*args, **kwargs)
    return ours, reference


def random_inputs(seed, count, nin):
    rng = random.Random(seed)
    return [[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(count)]


# ---------------------------------------------------------------------------
# initialisation: micrograd's exact weights, in micrograd's order


@pytest.mark.parametrize("seed", [0, 1, 1337])
@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (3, [4, 4, 1]), (5, [3, 2]), (1, [1])])
def test_mlp_with_same_seed_has_micrograds_exact_parameters_in_order(seed, nin, nouts):
    ours, reference = twin_models(seed, "MLP", nin, nouts)
    assert data_of(ours.parameters()) == data_of(reference.parameters())


@pytest.mark.parametrize("seed", [0, 42])
def test_layer_and_neuron_with_same_seed_have_micrograds_exact_parameters(seed):
    ours, reference = twin_models(seed, "Layer", 4, 3)
    assert data_of(ours.parameters()) == data_of(reference.parameters())
    ours, reference = twin_models(seed, "Neuron", 6)
    assert data_of(ours.parameters()) == data_of(reference.parameters())


def test_activation_choice_does_not_change_the_weights_drawn():
    random.seed(7)
    relu = microgradc.nn.MLP(3, [4, 4, 1])
    random.seed(7)
    tanh = microgradc.nn.MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh")
    assert data_of(relu.parameters()) == data_of(tanh.parameters())


def test_neuron_exposes_weights_as_a_list_of_values_and_bias_starting_at_zero_like_micrograd():
    random.seed(3)
    neuron = microgradc.nn.Neuron(4)
    assert isinstance(neuron.w, list) and isinstance(micrograd.nn.Neuron(4).w, list)
    assert len(neuron.w) == 4
    assert all(isinstance(w, Value) for w in neuron.w)
    assert isinstance(neuron.b, Value) and neuron.b.data == 0.0
    assert neuron.parameters() == [*neuron.w, neuron.b]


def test_layers_and_neurons_are_exposed_like_micrograd():
    mlp = microgradc.nn.MLP(3, [4, 2])
    assert len(mlp.layers) == 2
    assert [len(layer.neurons) for layer in mlp.layers] == [4, 2]
    assert mlp.parameters() == [p for layer in mlp.layers for p in layer.parameters()]
    assert mlp.layers[0].parameters() == [p for n in mlp.layers[0].neurons for p in n.parameters()]


# ---------------------------------------------------------------------------
# repr


@pytest.mark.parametrize(
    "make_ours, make_reference",
    [
        (lambda: microgradc.nn.Neuron(3), lambda: micrograd.nn.Neuron(3)),
        (lambda: microgradc.nn.Neuron(3, nonlin=False), lambda: micrograd.nn.Neuron(3, nonlin=False)),
        (lambda: microgradc.nn.Layer(2, 3), lambda: micrograd.nn.Layer(2, 3)),
        (lambda: microgradc.nn.Layer(2, 1, nonlin=False), lambda: micrograd.nn.Layer(2, 1, nonlin=False)),
        (lambda: microgradc.nn.MLP(2, [16, 16, 1]), lambda: micrograd.nn.MLP(2, [16, 16, 1])),
        (lambda: microgradc.nn.MLP(3, [4, 4, 1]), lambda: micrograd.nn.MLP(3, [4, 4, 1])),
    ],
    ids=["relu-neuron", "linear-neuron", "layer", "linear-layer-of-one", "demo-mlp", "lecture-shape-mlp"],
)
def test_repr_is_micrograds_string(make_ours, make_reference):
    assert repr(make_ours()) == repr(make_reference())


@pytest.mark.parametrize(
    "activation, name",
    [
        ("relu", "ReLUNeuron(3)"),
        ("tanh", "TanhNeuron(3)"),
        ("sigmoid", "SigmoidNeuron(3)"),
        ("linear", "LinearNeuron(3)"),
    ],
)
def test_neuron_repr_names_its_activation(activation, name):
    assert repr(microgradc.nn.Neuron(3, activation=activation)) == name


def test_lecture_tanh_mlp_repr_lists_tanh_neurons_in_every_layer():
    mlp = microgradc.nn.MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh")
    assert repr(mlp) == (
        "MLP of [Layer of [TanhNeuron(3), TanhNeuron(3), TanhNeuron(3), TanhNeuron(3)], "
        "Layer of [TanhNeuron(4), TanhNeuron(4), TanhNeuron(4), TanhNeuron(4)], "
        "Layer of [TanhNeuron(4)]]"
    )


def test_mlp_hidden_and_output_activations_are_chosen_separately():
    mlp = microgradc.nn.MLP(2, [3, 2], activation="sigmoid", output_activation="relu")
    assert repr(mlp) == (
        "MLP of [Layer of [SigmoidNeuron(2), SigmoidNeuron(2), SigmoidNeuron(2)], "
        "Layer of [ReLUNeuron(3), ReLUNeuron(3)]]"
    )


# ---------------------------------------------------------------------------
# forward and backward against micrograd's relu MLP


@pytest.mark.parametrize("seed", [0, 1337])
@pytest.mark.parametrize("nin, nouts", [(2, [16, 16, 1]), (3, [4, 4, 1]), (4, [5, 3])])
def test_default_mlp_outputs_are_bit_identical_to_micrograd_for_number_inputs(seed, nin, nouts):
    ours, reference = twin_models(seed, "MLP", nin, nouts)
    for x in random_inputs(seed, 20, nin):
        out, expected = ours(x), reference(x)
        if nouts[-1] == 1:
            assert isinstance(out, Value)
            assert out.data == expected.data
        else:
            assert isinstance(out, list) and len(out) == nouts[-1]
            assert data_of(out) == data_of(expected)


@pytest.mark.parametrize("seed", [2, 1337])
def test_default_mlp_on_value_inputs_matches_micrograd_outputs_and_every_grad(seed):
    nin, nouts = 3, [8, 8, 2]
    ours, reference = twin_models(seed, "MLP", nin, nouts)
    our_total, reference_total = Value(0.0), REFERENCE(0.0)
    our_inputs, reference_inputs = [], []
    for x in random_inputs(seed, 10, nin):
        our_x, reference_x = [Value(xi) for xi in x], [REFERENCE(xi) for xi in x]
        our_inputs += our_x
        reference_inputs += reference_x
        our_out, reference_out = ours(our_x), reference(reference_x)
        assert data_of(our_out) == data_of(reference_out)
        # a loss that weights the two outputs differently and squares one of them
        our_total = our_total + our_out[0] * our_out[0] - 3 * our_out[1]
        reference_total = reference_total + reference_out[0] * reference_out[0] - 3 * reference_out[1]
    our_total.backward()
    reference_total.backward()
    assert our_total.data == reference_total.data
    assert not mismatches(grads_of(ours.parameters()), grads_of(reference.parameters()), abs_tol=GRAD_ABS_TOL)
    assert not mismatches(grads_of(our_inputs), grads_of(reference_inputs), abs_tol=GRAD_ABS_TOL)


def test_neuron_forward_and_grads_match_micrograd_neuron():
    ours, reference = twin_models(11, "Neuron", 5)
    x = [0.5, -1.25, 2.0, 0.75, -0.1]
    out, expected = ours(x), reference(x)
    assert out.data == expected.data
    out.backward()
    expected.backward()
    assert grads_of(ours.parameters()) == grads_of(reference.parameters())


def test_layer_with_one_output_returns_a_value_like_micrograd():
    ours, reference = twin_models(5, "Layer", 3, 1, nonlin=False)  # micrograd's output layer
    out = ours([1.0, -2.0, 0.5])
    assert isinstance(out, Value)
    assert out.data == reference([1.0, -2.0, 0.5]).data


def test_layer_with_several_outputs_returns_a_list_of_values_like_micrograd():
    ours, reference = twin_models(5, "Layer", 3, 4)
    out = ours([1.0, -2.0, 0.5])
    assert isinstance(out, list) and all(isinstance(v, Value) for v in out)
    assert data_of(out) == data_of(reference([1.0, -2.0, 0.5]))


def test_mlp_accepts_a_mix_of_values_and_numbers_as_input():
    ours, reference = twin_models(9, "MLP", 3, [4, 1])
    x1 = Value(0.25)
    out = ours([x1, -1.5, 2])
    expected_x1 = REFERENCE(0.25)
    expected = reference([expected_x1, -1.5, 2])
    assert out.data == expected.data
    out.backward()
    expected.backward()
    assert close(x1.grad, expected_x1.grad, abs_tol=GRAD_ABS_TOL)


# ---------------------------------------------------------------------------
# activations micrograd lacks: the same network in torch float64


def torch_mlp_from_seed(seed, nin, nouts):
    """Weights as the spec draws them: per layer, per neuron, nin uniforms then a zero bias."""
    random.seed(seed)
    layers = []
    for fan_in, fan_out in zip([nin] + nouts, nouts):
        weights = [[random.uniform(-1, 1) for _ in range(fan_in)] for _ in range(fan_out)]
        layers.append(
            (
                torch.tensor(weights, dtype=torch.float64, requires_grad=True),
                torch.zeros(fan_out, dtype=torch.float64, requires_grad=True),
            )
        )
    return layers


TORCH_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda t: t}


def torch_mlp_forward(layers, x, activation, output_activation):
    h = torch.tensor(x, dtype=torch.float64)
    for i, (weights, bias) in enumerate(layers):
        act = TORCH_ACTIVATIONS[output_activation if i == len(layers) - 1 else activation]
        h = act(weights @ h + bias)
    return h


def torch_parameters_in_micrograd_order(layers):
    """Flattened per neuron: its weights then its bias, as Module.parameters() lists them."""
    flat = []
    for weights, bias in layers:
        for row in range(weights.shape[0]):
            flat.append(weights.grad[row])
            flat.append(bias.grad[row : row + 1])
    return [float(x) for x in torch.cat(flat)]


LECTURE_XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
LECTURE_YS = [1.0, -1.0, -1.0, 1.0]


def test_lecture_tanh_mlp_trains_like_torch_float64_for_twenty_steps():
    """The lecture's loop: MLP(3, [4, 4, 1]) tanh everywhere, sum of squared errors,
    zero grads, backward, p.data += -0.1 * p.grad."""
    random.seed(1)
    model = microgradc.nn.MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh")
    layers = torch_mlp_from_seed(1, 3, [4, 4, 1])
    torch_params = [t for layer in layers for t in layer]
    for step in range(20):
        ypred = [model(x) for x in LECTURE_XS]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(LECTURE_YS, ypred))
        for p in model.parameters():
            p.grad = 0.0
        loss.backward()

        torch_ypred = torch.cat([torch_mlp_forward(layers, x, "tanh", "tanh") for x in LECTURE_XS])
        torch_loss = ((torch_ypred - torch.tensor(LECTURE_YS, dtype=torch.float64)) ** 2).sum()
        for t in torch_params:
            t.grad = None
        torch_loss.backward()

        assert not mismatches(data_of(ypred), torch_ypred.tolist()), step
        assert close(loss.data, torch_loss.item()), step
        assert not mismatches(
            grads_of(model.parameters()), torch_parameters_in_micrograd_order(layers), abs_tol=GRAD_ABS_TOL
        ), step

        for p in model.parameters():
            p.data += -0.1 * p.grad
        with torch.no_grad():
            for t in torch_params:
                t += -0.1 * t.grad
    assert loss.data < 0.1  # the lecture's network fits its four points


@pytest.mark.parametrize(
    "activation, output_activation, nouts",
    [
        ("sigmoid", "linear", [3, 2]),
        ("tanh", "sigmoid", [5, 1]),
        ("linear", "linear", [4, 3]),
        ("relu", "tanh", [6, 2]),
    ],
)
def test_mlp_activation_choice_matches_torch_float64_outputs_and_grads(activation, output_activation, nouts):
    seed, nin = 21, 3
    random.seed(seed)
    model = microgradc.nn.MLP(nin, nouts, activation=activation, output_activation=output_activation)
    layers = torch_mlp_from_seed(seed, nin, nouts)
    total, torch_total = Value(0.0), torch.tensor(0.0, dtype=torch.float64)
    for x in random_inputs(seed, 6, nin):
        out = model(x)
        out = out if isinstance(out, list) else [out]
        torch_out = torch_mlp_forward(layers, x, activation, output_activation)
        assert not mismatches(data_of(out), torch_out.tolist())
        for k, o in enumerate(out):
            total = total + (k + 1) * o
            torch_total = torch_total + (k + 1) * torch_out[k]
    total.backward()
    torch_total.backward()
    assert not mismatches(
        grads_of(model.parameters()), torch_parameters_in_micrograd_order(layers), abs_tol=GRAD_ABS_TOL
    )


def test_neuron_nonlin_false_is_the_linear_activation():
    random.seed(4)
    linear = microgradc.nn.Neuron(3, nonlin=False)
    random.seed(4)
    explicit = microgradc.nn.Neuron(3, activation="linear")
    x = [-5.0, 0.5, 1.5]
    assert repr(linear) == "LinearNeuron(3)"
    assert linear(x).data == explicit(x).data
    random.seed(4)
    reference = micrograd.nn.Neuron(3, nonlin=False)
    assert linear(x).data == reference(x).data


# ---------------------------------------------------------------------------
# dot: one fused node with micrograd's sum's numbers


def micrograd_dot(ws, xs, bias):
    """micrograd's Neuron sum, verbatim; bias None means sum's default start of 0."""
    if bias is None:
        return sum(wi * xi for wi, xi in zip(ws, xs))
    return sum((wi * xi for wi, xi in zip(ws, xs)), bias)


def twin_operands(seed, n, number_every=0):
    """ws and xs as (ours, micrograd's) lists; every number_every-th x a plain number."""
    rng = random.Random(seed)
    w = [rng.uniform(-3, 3) for _ in range(n)]
    x = [rng.uniform(-3, 3) for _ in range(n)]
    is_number = [number_every and i % number_every == 0 for i in range(n)]
    ours = ([Value(a) for a in w], [a if num else Value(a) for a, num in zip(x, is_number)])
    reference = ([REFERENCE(a) for a in w], [a if num else REFERENCE(a) for a, num in zip(x, is_number)])
    return ours, reference


@pytest.mark.parametrize("bias_kind", ["value", "number", "none"])
@pytest.mark.parametrize("number_every", [0, 3])
@pytest.mark.parametrize("n", [1, 7, 64])
def test_dot_is_bit_identical_to_micrograds_sum_with_the_unfused_graphs_grads(n, number_every, bias_kind):
    (ws, xs), (ref_ws, ref_xs) = twin_operands(n * 10 + number_every, n, number_every)
    biases = {"value": (Value(0.375), REFERENCE(0.375)), "number": (-1.5, -1.5), "none": (None, None)}
    bias, ref_bias = biases[bias_kind]
    out = microgradc.dot(ws, xs, bias)
    expected = micrograd_dot(ref_ws, ref_xs, ref_bias)
    assert isinstance(out, Value)
    assert out.data == expected.data
    # scale the output so the grads are not just the other operand times one
    (out * 1.7).backward()
    (expected * 1.7).backward()
    assert grads_of(ws) == grads_of(ref_ws)
    our_x_leaves = [x for x in xs if isinstance(x, Value)]
    assert grads_of(our_x_leaves) == grads_of(x for x in ref_xs if isinstance(x, REFERENCE))
    if bias_kind == "value":
        assert bias.grad == ref_bias.grad


def test_dot_is_one_node_with_op_dot_whose_children_are_the_operands():
    ws, xs, b = [Value(1.0), Value(2.0)], [Value(3.0), Value(-4.0)], Value(0.5)
    out = microgradc.dot(ws, xs, b)
    assert out._op == "dot"
    assert out._prev == {*ws, *xs, b}
    assert out.data == 0.5 + 3.0 - 8.0


def test_dot_accepts_numbers_among_the_weights_too():
    xs = [Value(1.5), Value(-2.0)]
    out = microgradc.dot([2.0, Value(0.5)], xs, 1)
    assert out.data == 1 + 2.0 * 1.5 + 0.5 * -2.0
    out.backward()
    assert grads_of(xs) == [2.0, 0.5]


def test_dot_with_a_value_used_twice_accumulates_like_the_unfused_graph():
    a, b, c = Value(1.5), Value(-0.25), Value(3.0)
    ra, rb, rc = REFERENCE(1.5), REFERENCE(-0.25), REFERENCE(3.0)
    out = microgradc.dot([a, a, b], [b, c, a], a)
    expected = micrograd_dot([ra, ra, rb], [rb, rc, ra], ra)
    assert out.data == expected.data
    out.backward()
    expected.backward()
    assert not mismatches(grads_of([a, b, c]), grads_of([ra, rb, rc]))


def test_dot_of_a_value_with_itself_has_grad_two_x():
    ws = [Value(0.5), Value(-3.0), Value(2.0)]
    out = microgradc.dot(ws, ws)
    assert out.data == 0.25 + 9.0 + 4.0
    out.backward()
    assert grads_of(ws) == [1.0, -6.0, 4.0]


def test_dot_of_unequal_lengths_raises_value_error():
    with pytest.raises(ValueError):
        microgradc.dot([Value(1.0), Value(2.0)], [Value(1.0)])
    with pytest.raises(ValueError):
        microgradc.dot([Value(1.0)], [1.0, 2.0], 0.0)


def test_dot_of_a_non_number_raises_type_error():
    with pytest.raises(TypeError):
        microgradc.dot([Value(1.0)], ["x"])
    with pytest.raises(TypeError):
        microgradc.dot([Value(1.0)], [1.0], bias="b")


# ---------------------------------------------------------------------------
# zero_grad


def test_zero_grad_zeroes_every_parameter_grad():
    random.seed(8)
    model = microgradc.nn.MLP(3, [4, 4, 1])
    loss = sum((model(x) - 1.0) ** 2 for x in random_inputs(8, 5, 3))
    loss.backward()
    assert sum(p.grad != 0.0 for p in model.parameters()) > len(model.parameters()) // 2
    model.zero_grad()
    assert grads_of(model.parameters()) == [0.0] * len(model.parameters())


def test_zero_grad_on_a_layer_or_a_neuron_zeroes_only_their_parameters():
    random.seed(8)
    model = microgradc.nn.MLP(2, [3, 1], activation="tanh")
    model([1.0, -1.0]).backward()
    first, second = model.layers
    first_grads = grads_of(first.parameters())
    assert all(g != 0.0 for g in first_grads)
    second.zero_grad()
    assert grads_of(second.parameters()) == [0.0] * len(second.parameters())
    assert grads_of(first.parameters()) == first_grads
    first.neurons[0].zero_grad()
    assert grads_of(first.neurons[0].parameters()) == [0.0] * 3
    assert grads_of(first.neurons[1].parameters()) == first_grads[3:6]


# ---------------------------------------------------------------------------
# state_dict, load_state_dict, pickle


def tanh_lecture_mlp(seed):
    random.seed(seed)
    return microgradc.nn.MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh")


def test_state_dict_holds_floats_or_lists_of_floats_covering_every_parameter():
    state = tanh_lecture_mlp(1).state_dict()
    assert isinstance(state, dict)
    count = 0
    for name, entry in state.items():
        assert isinstance(name, str)
        if isinstance(entry, list):
            assert all(type(x) is float for x in entry), name
            count += len(entry)
        else:
            assert type(entry) is float, name
            count += 1
    assert count == len(tanh_lecture_mlp(1).parameters())


def test_load_state_dict_round_trip_restores_every_parameter_exactly():
    source, target = tanh_lecture_mlp(1), tanh_lecture_mlp(2)
    for p in source.parameters():
        p.data = p.data * 1.1 + 1e-3  # not the init values: a trained-looking model
    assert data_of(target.parameters()) != data_of(source.parameters())
    target.load_state_dict(source.state_dict())
    assert data_of(target.parameters()) == data_of(source.parameters())
    for x in LECTURE_XS:
        assert target(x).data == source(x).data
    assert target.state_dict() == source.state_dict()


def lengthen(state):
    """One entry one value too long: a list gets an extra float, a float becomes two."""
    name = next(iter(state))
    entry = state[name]
    state[name] = entry + [0.5] if isinstance(entry, list) else [entry, 0.5]


def shorten(state):
    """One entry one value too short: the last float of a list, or a float, becomes an empty list."""
    name = next(iter(state))
    entry = state[name]
    state[name] = entry[:-1] if isinstance(entry, list) else []


@pytest.mark.parametrize(
    "corrupt",
    [lambda state: state.pop(next(iter(state))), lambda state: state.update(extra=1.0), lengthen, shorten],
    ids=["missing-key", "extra-key", "entry-too-long", "entry-too-short"],
)
def test_load_state_dict_with_mismatched_keys_or_lengths_raises_value_error(corrupt):
    state = tanh_lecture_mlp(1).state_dict()
    corrupt(state)
    with pytest.raises(ValueError):
        tanh_lecture_mlp(2).load_state_dict(state)


def test_a_rejected_state_dict_leaves_every_parameter_unchanged():
    model = tanh_lecture_mlp(2)
    before = data_of(model.parameters())
    state = tanh_lecture_mlp(1).state_dict()
    last = list(state)[-1]
    state[last] = [state[last], 0.5]  # only the last entry is bad: the others would load
    with pytest.raises(ValueError):
        model.load_state_dict(state)
    assert data_of(model.parameters()) == before


def test_load_state_dict_from_a_different_architecture_raises_value_error():
    random.seed(0)
    with pytest.raises(ValueError):
        microgradc.nn.MLP(3, [4, 1]).load_state_dict(tanh_lecture_mlp(1).state_dict())


def test_pickled_model_has_the_same_parameters_outputs_and_repr():
    model = tanh_lecture_mlp(3)
    for p in model.parameters():
        p.data = p.data * 0.9 - 0.01
    copy = pickle.loads(pickle.dumps(model))
    assert repr(copy) == repr(model)
    assert data_of(copy.parameters()) == data_of(model.parameters())
    for x in LECTURE_XS:
        assert copy(x).data == model(x).data


def test_pickled_default_mlp_matches_micrograd_and_trains_independently_of_the_original():
    model, reference = twin_models(5, "MLP", 2, [8, 1])
    copy = pickle.loads(pickle.dumps(model))
    x = [0.3, -0.7]
    assert copy(x).data == reference(x).data
    copy(x).backward()
    for p in copy.parameters():
        p.data -= 0.5 * p.grad
    assert data_of(model.parameters()) == data_of(reference.parameters())
    assert grads_of(model.parameters()) == [0.0] * len(model.parameters())
