"""The book's next example, "A Simple NeuralNet with Back Propagation", with Values instead of numpy.

    python examples/book_xor.py

A 3-4-1 sigmoid network without biases learns XOR of the first two inputs (the constant third
input stands in for a bias): the book's initial weights, the sum over the 4 samples of
1/2 (y - a2)**2, plain gradient descent with learning rate 1, 1000 full-batch steps.
Prints the outputs for the 4 inputs before and after training, with 3 decimals, as the book does.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from microgrsucc import Value, no_grad
from microgrsucc.losses import mse_loss
from microgrsucc.nn import MLP
from microgrsucc.optim import SGD

INPUTS = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]
TARGETS = [0, 1, 1, 0]

# numpy's np.random.seed(1), then random((3, 4)) and random((4, 1)); W1[i][j] joins input i to unit j.
W1 = [
    [0.417022004702574, 0.7203244934421581, 0.00011437481734488664, 0.30233257263183977],
    [0.14675589081711304, 0.0923385947687978, 0.1862602113776709, 0.34556072704304774],
    [0.39676747423066994, 0.538816734003357, 0.4191945144032948, 0.6852195003967595],
]
W2 = [[0.20445224973151743], [0.8781174363909454], [0.027387593197926163], [0.6704675101784022]]


def book_network() -> MLP:
    """The 3-4-1 network with the book's weights."""
    model = MLP(3, [4, 1], activation="sigmoid", output_activation="sigmoid", bias=False)
    hidden, output = model.layers
    for j, neuron in enumerate(hidden.neurons):
        for i, w in enumerate(neuron.w):
            w.data = W1[i][j]
    for j, w in enumerate(output.neurons[0].w):
        w.data = W2[j][0]
    return model


def outputs(model: MLP) -> list[Value]:
    return [model(x) for x in INPUTS]  # type: ignore[misc]  # one output unit: a Value each


def show(title: str, model: MLP) -> None:
    print(title)
    with no_grad():
        for x, out in zip(INPUTS, outputs(model), strict=True):
            print(f"  {x} -> {out.data:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)  # no options: --help, and a clear error for anything else
    model = book_network()
    show("Output before training:", model)
    optimizer = SGD(model.parameters(), lr=1.0)
    for _ in range(1000):
        # mse_loss sums (y - a2)**2; the book's cost halves it.
        loss = 0.5 * mse_loss(outputs(model), TARGETS, reduction="sum")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    show("Output after training:", model)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
