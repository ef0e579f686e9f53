"""Log a few training runs to the embedded store, then look at them with `runlab runs list`.

    python3 examples/quickstart.py && runlab runs list

With no tracking URI set, runs go to ``runlab.db`` in the working directory and artifacts to
``runlab-artifacts/`` beside it. The code is plain MLflow code: only the import differs.
"""

from __future__ import annotations

import math
import random

import runlab as mlflow


def train(learning_rate: float, epochs: int = 50) -> float:
    """A toy "training" loop that logs a loss and an accuracy curve; returns the final loss."""
    rng = random.Random(int(learning_rate * 1000))
    loss = 1.0
    for epoch in range(epochs):
        loss = math.exp(-learning_rate * (epoch + 1)) + rng.uniform(0, 0.005)
        mlflow.log_metrics({"loss": loss, "accuracy": 1 - loss / 2}, step=epoch)
    return loss


def main() -> None:
    mlflow.set_experiment("quickstart")
    for learning_rate in (0.01, 0.03, 0.1):
        with mlflow.start_run(run_name=f"lr={learning_rate}") as run:
            mlflow.log_params({"learning_rate": learning_rate, "epochs": 50, "model": "toy"})
            mlflow.set_tag("stage", "quickstart")
            final_loss = train(learning_rate)
            mlflow.log_dict({"learning_rate": learning_rate}, "config.json")
            print(f"run {run.info.run_id}: lr={learning_rate} final loss={final_loss:.4f}")
    print(f"Logged 3 runs to {mlflow.get_tracking_uri()}")
    print("Next: runlab runs list --order-by 'metrics.loss ASC'")


if __name__ == "__main__":
    main()
