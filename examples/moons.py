"""Train a 2-16-16-1 MLP on two half-moons (micrograd's demo) and draw what it learned.

    pip install ".[examples]"
    python examples/moons.py --out DIR [--compile]

Hinge loss plus a small L2 penalty, full batch, Adam. Prints step, loss and training accuracy
while it trains, then writes ``moons_decision_boundary.png`` and ``moons_loss.png`` into DIR
(default: the current folder).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrsucc import Value, compile, no_grad
from microgrsucc.datasets import make_moons
from microgrsucc.losses import hinge_loss
from microgrsucc.nn import MLP
from microgrsucc.optim import Adam

if TYPE_CHECKING:
    from matplotlib.figure import Figure

L2 = 1e-4  # weight of the penalty on the squared parameters


def accuracy(scores: Sequence[Value], targets: Sequence[int]) -> float:
    """The share of samples whose score has the sign of its target (-1 or +1)."""
    return sum((s.data > 0) == (t > 0) for s, t in zip(scores, targets, strict=True)) / len(targets)


def train(
    X: list[tuple[float, float]], y: list[int], steps: int, seed: int, compiled: bool = False
) -> tuple[MLP, list[float], float]:
    """Train on points ``X`` with labels ``y`` (0/1); return the model, the loss per step, the accuracy.

    With ``compiled``, each step runs ``microgrsucc.compile``'s code for the same loss.
    """
    targets = [2 * label - 1 for label in y]  # the hinge loss wants -1/+1
    model = MLP(2, [16, 16, 1], seed=seed)
    params = model.parameters()
    optimizer = Adam(params, lr=0.05)

    def sample_loss(x0: Value, x1: Value, t: Value) -> Value:
        # One sample's share: hinge_loss(...) averages these, and the mean of the penalty is itself.
        score: Value = model([x0, x1])  # type: ignore[assignment]
        return (1 - t * score).relu() + L2 * sum(p * p for p in params)

    step_fn = compile(sample_loss, params) if compiled else None
    score_fn = compile(lambda x0, x1: model([x0, x1]), params)  # type: ignore[arg-type, return-value]
    samples = [(a, b, t) for (a, b), t in zip(X, targets, strict=True)]
    losses = []
    started = time.perf_counter()
    for step in range(1, steps + 1):
        shown = step == 1 or step % 5 == 0 or step == steps
        optimizer.zero_grad()
        if step_fn is not None:
            if shown:  # the scores before this step's update, for the accuracy
                scores: list[Any] = [Value(score_fn(a, b)) for a, b in X]
            loss_data = step_fn.backward(samples)
        else:
            scores = [model(x) for x in X]  # one output unit
            loss = hinge_loss(scores, targets) + L2 * sum(p * p for p in params)
            loss.backward()
            loss_data = loss.data
        optimizer.step()
        losses.append(loss_data)
        if shown:
            print(f"step {step:3d}  loss {loss_data:.4f}  accuracy {accuracy(scores, targets):.0%}")
    per_step = (time.perf_counter() - started) / steps
    print(f"{'compiled' if compiled else 'eager'} training: {per_step * 1e3:.1f} ms per step")
    with no_grad():
        final = accuracy([model(x) for x in X], targets)  # type: ignore[misc]
    return model, losses, final


def save(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # Agg draws into memory: no window, no display needed
    fig.savefig(path, dpi=100)
    return path


@no_grad()
def plot_decision_boundary(model: MLP, X: list[tuple[float, float]], y: list[int], path: Path) -> Path:
    """Colour the plane by the sign of the model's score and put the points on top."""
    from matplotlib.figure import Figure

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
    from matplotlib.figure import Figure

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
    parser.add_argument(
        "--compile",
        action="store_true",
        help="train with microgrsucc.compile, after timing a few eager steps for comparison",
    )
    args = parser.parse_args(argv)
    if importlib.util.find_spec("matplotlib") is None:  # say so before training, not after
        parser.exit(1, "moons.py plots with matplotlib, which is not installed: pip install '.[examples]'\n")

    X, y = make_moons(100, noise=0.1, seed=args.seed)
    if args.compile:
        train(X, y, 3, args.seed)  # the eager per-step time, to compare
    model, losses, final = train(X, y, args.steps, args.seed, compiled=args.compile)
    print(f"training accuracy after {args.steps} steps: {final:.0%}")
    args.out.mkdir(parents=True, exist_ok=True)
    print("wrote", plot_decision_boundary(model, X, y, args.out / "moons_decision_boundary.png"))
    print("wrote", plot_loss(losses, args.out / "moons_loss.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
