"""Train a 2-16-16-1 MLP on two half-moons (micrograd's demo) and draw what it learned.

    pip install ".[examples]"
    python examples/moons.py --out DIR

Hinge loss plus a small L2 penalty, full batch, Adam. Prints step, loss and training accuracy
while it trains, then writes ``moons_decision_boundary.png`` and ``moons_loss.png`` into DIR
(default: the current folder).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from microgrsucc import Value, no_grad
from microgrsucc.datasets import make_moons
from microgrsucc.losses import hinge_loss
from microgrsucc.nn import MLP
from microgrsucc.optim import Adam

L2 = 1e-4  # weight of the penalty on the squared parameters


def accuracy(scores: Sequence[Value], targets: Sequence[int]) -> float:
    """The share of samples whose score has the sign of its target (-1 or +1)."""
    return sum((s.data > 0) == (t > 0) for s, t in zip(scores, targets, strict=True)) / len(targets)


def train(
    X: list[tuple[float, float]], y: list[int], steps: int, seed: int
) -> tuple[MLP, list[float], float]:
    """Train on points ``X`` with labels ``y`` (0/1); return the model, the loss per step, the accuracy."""
    targets = [2 * label - 1 for label in y]  # the hinge loss wants -1/+1
    model = MLP(2, [16, 16, 1], seed=seed)
    optimizer = Adam(model.parameters(), lr=0.05)
    losses = []
    for step in range(1, steps + 1):
        scores: list[Value] = [model(x) for x in X]  # type: ignore[misc]  # one output unit
        loss = hinge_loss(scores, targets) + L2 * sum(p * p for p in model.parameters())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.data)
        acc = accuracy(scores, targets)  # of the scores before this step's update
        if step == 1 or step % 5 == 0 or step == steps:
            print(f"step {step:3d}  loss {loss.data:.4f}  accuracy {acc:.0%}")
    with no_grad():
        final = accuracy([model(x) for x in X], targets)  # type: ignore[misc]
    return model, losses, final


def save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)  # Agg draws into memory: no window, no display needed
    fig.savefig(path, dpi=100)
    return path


@no_grad()
def plot_decision_boundary(model: MLP, X: list[tuple[float, float]], y: list[int], path: Path) -> Path:
    """Colour the plane by the sign of the model's score and put the points on top."""
    n = 60
    xs = [-1.6 + 4.2 * i / (n - 1) for i in range(n)]
    ys = [-1.2 + 2.9 * j / (n - 1) for j in range(n)]
    scores = [[model([u, v]).data for u in xs] for v in ys]  # type: ignore[union-attr]
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.contourf(xs, ys, scores, levels=[-1e9, 0.0, 1e9], colors=["#f4c7c3", "#c6dbef"])
    ax.contour(xs, ys, scores, levels=[0.0], colors="k", linewidths=1)
    for label, colour in ((0, "#d62728"), (1, "#1f77b4")):
        points = [p for p, t in zip(X, y, strict=True) if t == label]
        ax.scatter([p[0] for p in points], [p[1] for p in points], c=colour, s=18, label=f"class {label}")
    ax.set_title("MLP 2-16-16-1 on half-moons: decision boundary (score = 0)")
    ax.set_xlabel("first input, x₁")
    ax.set_ylabel("second input, x₂")
    ax.legend(loc="upper right", title="training points")
    return save(fig, path)


def plot_loss(losses: list[float], path: Path) -> Path:
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(range(1, len(losses) + 1), losses)
    ax.set_xlabel("training step (one full batch of 100 points, Adam)")
    ax.set_ylabel("hinge loss + 1e-4·Σw² (log scale)")
    ax.set_yscale("log")
    ax.set_title("Training loss of the 2-16-16-1 MLP on half-moons")
    return save(fig, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the pictures (default: .)")
    parser.add_argument("--steps", type=int, default=60, help="training steps (default: 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the data and the weights (default: 0)")
    args = parser.parse_args(argv)

    X, y = make_moons(100, noise=0.1, seed=args.seed)
    model, losses, final = train(X, y, args.steps, args.seed)
    print(f"training accuracy after {args.steps} steps: {final:.0%}")
    args.out.mkdir(parents=True, exist_ok=True)
    print("wrote", plot_decision_boundary(model, X, y, args.out / "moons_decision_boundary.png"))
    print("wrote", plot_loss(losses, args.out / "moons_loss.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
