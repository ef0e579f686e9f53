"""Fit a line to noisy data by gradient descent, logging the run with runlab.

As a project (the run is created by the runner, which passes its id to this process)::

    runlab run examples/train_project -P alpha=0.05

or directly, which starts a run of its own: ``python train.py --alpha 0.05``.
"""

# First line out, before any import: the speed benchmark times a run from the command to here.
print("train_project: started", flush=True)

import argparse  # noqa: E402
import random  # noqa: E402

import runlab as mlflow  # noqa: E402  (MLflow code: only the import differs)

# The line y = 3x - 2 that the data come from.
TRUE_SLOPE, TRUE_INTERCEPT = 3.0, -2.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The hyperparameters, kept as the text they were given in (that text is what is logged)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", default="0.1", help="learning rate (a float > 0)")
    parser.add_argument("--epochs", default="20", help="passes over the data (an int >= 1)")
    parser.add_argument("--seed", default="0", help="seed of the synthetic data (an int)")
    args = parser.parse_args(argv)
    try:
        alpha, epochs, _ = float(args.alpha), int(args.epochs), int(args.seed)
    except ValueError as err:
        parser.error(str(err))
    if not alpha > 0 or epochs < 1:
        parser.error("alpha must be > 0 and epochs >= 1")
    return args


def make_data(seed: int, count: int = 200) -> list[tuple[float, float]]:
    """``count`` points of the line with Gaussian noise, x in [-1, 1]."""
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        x = rng.uniform(-1.0, 1.0)
        points.append((x, TRUE_SLOPE * x + TRUE_INTERCEPT + rng.gauss(0.0, 0.1)))
    return points


def mse(points: list[tuple[float, float]], slope: float, intercept: float) -> float:
    """Mean squared error of the line ``slope * x + intercept`` on ``points``."""
    return sum((slope * x + intercept - y) ** 2 for x, y in points) / len(points)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    alpha, epochs = float(args.alpha), int(args.epochs)
    points = make_data(int(args.seed))
    slope = intercept = 0.0
    with mlflow.start_run():
        mlflow.log_params({"alpha": args.alpha, "epochs": args.epochs, "seed": args.seed})
        for epoch in range(epochs):
            # Full-batch gradient of the mean squared error.
            grad_slope = sum(2 * (slope * x + intercept - y) * x for x, y in points) / len(points)
            grad_intercept = sum(2 * (slope * x + intercept - y) for x, y in points) / len(points)
            slope -= alpha * grad_slope
            intercept -= alpha * grad_intercept
            mlflow.log_metric("loss", mse(points, slope, intercept), step=epoch)
        loss = mse(points, slope, intercept)
        mlflow.log_metrics({"final_loss": loss, "slope": slope, "intercept": intercept})
        mlflow.log_dict({"slope": slope, "intercept": intercept}, "model/line.json")
    print(f"train_project: done, loss={loss:.4f} slope={slope:.3f} intercept={intercept:.3f}")


if __name__ == "__main__":
    main()
