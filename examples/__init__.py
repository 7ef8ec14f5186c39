"""Examples of microgradc, each runnable from the repository root:

    python -m examples.moons            micrograd's demo: two moons, 100 steps to 100% accuracy
    python -m examples.circle           inside the unit circle? tanh MLPs of 1, 2, 3 and 9 neurons
    python -m examples.digits           handwritten digits (8x8) with Adam and minibatches
    python -m examples.worked_example   backpropagation by hand through a 2-2-2 sigmoid network
    python -m examples.gpt              microgpt: a one-layer GPT learns and makes up first names

Each saves its plots as PNG under --out (default examples-output/), a --compiled run under
names of its own; --quick runs a short version (the tests use it; gpt takes --steps N
instead). They need scikit-learn, matplotlib and tqdm; the progress bars show on a
terminal only.
"""
