"""Autologging's cost on a Lightning training loop that logs a metric every step.

One process per tool, against that tool's own tracking server (started by the runner). A
LightningModule with one linear layer trains ``epochs`` x ``steps`` batches and calls
``self.log("train_loss", ...)`` on every step; autologging is asked to record every step
(``log_every_n_step=1``), with its defaults otherwise (model and checkpoints included). The same
training runs ``repeats`` times with autologging disabled and enabled, alternating; the time is
``trainer.fit()``'s wall time, and "recorded" adds the wait until everything has reached the
server (runlab: ``flush()``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from workloads.common import median


def _module_and_data(steps: int) -> tuple[Any, Any]:
    import lightning as L
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class Regressor(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(16, 1)

        def forward(self, x: Any) -> Any:
            return self.layer(x)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            return loss

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(steps * 8, 16, generator=generator)
    y = x.sum(dim=1, keepdim=True)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False, num_workers=0)
    return Regressor, loader


def _fit(module_class: Any, loader: Any, epochs: int) -> float:
    import lightning as L

    trainer = L.Trainer(
        max_epochs=epochs,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
    )
    t0 = time.perf_counter()
    trainer.fit(module_class(), loader)
    return time.perf_counter() - t0


def run(api: Any, params: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    mlflow = api.mlflow
    mlflow.set_tracking_uri(params["server_url"])
    mlflow.set_experiment("bench-autolog-lightning")
    module_class, loader = _module_and_data(params["steps"])
    _fit(module_class, loader, 1)  # warm-up: imports and first-call costs, not compared
    bare_s: list[float] = []
    fit_s: list[float] = []
    recorded_s: list[float] = []
    for _ in range(params["repeats"]):
        mlflow.pytorch.autolog(disable=True)
        bare_s.append(_fit(module_class, loader, params["epochs"]))
        mlflow.pytorch.autolog(log_every_n_step=1)
        t0 = time.perf_counter()
        fit_s.append(_fit(module_class, loader, params["epochs"]))
        flush = getattr(mlflow, "flush", None) or getattr(mlflow, "flush_async_logging", None)
        if flush is not None:
            flush()
        recorded_s.append(time.perf_counter() - t0)
    run = mlflow.last_active_run()
    client = api.client(params["server_url"])
    history = client.get_metric_history(run.info.run_id, "train_loss_step")
    mlflow.pytorch.autolog(disable=True)
    bare = median(bare_s)
    return {
        "epochs": params["epochs"],
        "steps": params["steps"],
        "repeats": params["repeats"],
        "bare_s": bare,
        "fit_s": median(fit_s),
        "recorded_s": median(recorded_s),
        "fit_ratio": median(fit_s) / bare,
        "recorded_ratio": median(recorded_s) / bare,
        "step_points": len(history),
        "metrics": sorted(run.data.metrics),
        "pid": os.getpid(),
    }
