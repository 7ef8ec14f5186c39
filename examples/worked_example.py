"""Backpropagation by hand: every gradient of a 2-2-2 sigmoid network, one update, 200 epochs.

Two inputs, two hidden neurons, two outputs, sigmoid on both layers; two samples,
x = (3, 1) with target (1, 0) and x = (-1, 4) with target (0, 1); the loss is the squared
error summed over both samples and both outputs, E = 1/2 * sum (o - t)^2. Starting weights
(row j: neuron j's weight from each input; then the biases):

    hidden: w = [[2, -1], [1, 2]], b = [1, -1]      output: w = [[2, -1], [-1, 2]], b = [0, 0]

It prints dE/dparam for all 12 parameters, one summed update with step 0.5 and the outputs
after 200 such updates. The hidden pre-activations start at 6, 4, -5 and 6, where the
sigmoid is flat (slope s(1 - s) below 0.02), so the first layer's gradients are on average
more than 10 times smaller than the second's: the vanishing gradients of a saturated sigmoid.

    python -m examples.worked_example [--out DIR] [--quick]
"""
from examples.common import parse_args, plt, progress, save
from microgradc import losses, optim
from microgradc.nn import MLP

INPUTS = [[3.0, 1.0], [-1.0, 4.0]]
TARGETS = [[1.0, 0.0], [0.0, 1.0]]
WEIGHTS = [[[2.0, -1.0], [1.0, 2.0]], [[2.0, -1.0], [-1.0, 2.0]]]  # per layer, per neuron
BIASES = [[1.0, -1.0], [0.0, 0.0]]
STEP = 0.5


def network():
    """The 2-2-2 sigmoid network with the starting weights above."""
    model = MLP(2, [2, 2], activation='sigmoid', output_activation='sigmoid')
    for layer, weights, biases in zip(model.layers, WEIGHTS, BIASES):
        for neuron, row, bias in zip(layer.neurons, weights, biases):
            for weight, value in zip(neuron.w, row):
                weight.data = value
            neuron.b.data = bias
    return model


def textbook_parameters(model):
    """(name, Value) per parameter: w1[j][i] is hidden neuron j's weight from input i, b1[j]
    its bias; w2[k][j] is output k's weight from hidden neuron j, b2[k]."""
    named = []
    for l, layer in enumerate(model.layers, start=1):
        for j, neuron in enumerate(layer.neurons):
            named += [(f'w{l}[{j}][{i}]', weight) for i, weight in enumerate(neuron.w)]
            named.append((f'b{l}[{j}]', neuron.b))
    return named


def loss(model):
    """E = 1/2 * sum over both samples and both outputs of (output - target)^2."""
    outputs = [output for x in INPUTS for output in model(x)]
    targets = [target for pair in TARGETS for target in pair]
    return 0.5 * losses.mse(outputs, targets, reduction='sum')


def gradient_table(model):
    """E and [(name, value, dE/dparam)] for every parameter, from one backward pass."""
    model.zero_grad()
    E = loss(model)
    E.backward()
    return E.data, [(name, p.data, p.grad) for name, p in textbook_parameters(model)]


def update(model, step=STEP):
    """One summed update with the gradients the parameters hold: p -= step * dE/dp."""
    optim.SGD(model.parameters(), lr=step).step()


def train(model, epochs):
    """epochs of (gradients, update); returns E before each update."""
    history = []
    for _ in progress(range(epochs), desc='epochs', leave=False):
        E, _ = gradient_table(model)
        update(model)
        history.append(E)
    return history


def main():
    args = parse_args(__doc__.splitlines()[0], quick='20 epochs instead of 200')
    epochs = 20 if args.quick else 200

    model = network()
    E, table = gradient_table(model)
    print(f'E = {E:.6f}\n\n{"parameter":<10} {"value":>7} {"dE/dparam":>12}')
    for name, value, grad in table:
        print(f'{name:<10} {value:>7.3f} {grad:>12.6f}')
    for l, layer in enumerate(model.layers, start=1):
        grads = [abs(p.grad) for p in layer.parameters()]
        print(f'layer {l}: mean |dE/dparam| {sum(grads) / len(grads):.6f}')
    print('(layer 1 learns slowly: its sigmoids are saturated)')

    update(model)  # with the gradients above
    print(f'\nafter one update with step {STEP}: E = {loss(model).data:.6f}')
    for name, parameter in textbook_parameters(model):
        print(f'{name:<10} {parameter.data:>10.6f}')

    model = network()
    history = train(model, epochs)
    print(f'\nafter {epochs} epochs: E = {loss(model).data:.6f}')
    for x, target in zip(INPUTS, TARGETS):
        outputs = [round(output.data, 4) for output in model(x)]
        print(f'x = {x}: output {outputs}, target {target}')

    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(history)
    axes.set(xlabel='epoch', ylabel='E = 1/2 sum (o - t)^2', yscale='log',
             title='2-2-2 sigmoid network, summed updates of step 0.5')
    print(f'loss curve: {save(figure, args.out, "worked-example-loss.png")}')


if __name__ == '__main__':
    main()
