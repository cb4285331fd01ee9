"""Tune trainables: a deep model reports after every validation epoch with a resumable
Lightning checkpoint; a tabular model reports once. Both end with a result marked ``final``
whose checkpoint holds the saved forecaster (``model/``) and whose ``val_mse`` is the mean
squared error of its expected return on the validation slice."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytorch_lightning as pl
from ray import tune

from models.zoo import create, model_class

CKPT = "last.ckpt"


class TuneReport(pl.Callback):
    """After each validation epoch: a Lightning checkpoint and the epoch's metrics to Tune."""

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        with tempfile.TemporaryDirectory() as d:
            trainer.save_checkpoint(str(Path(d) / CKPT))
            tune.report({**metrics, "epoch": int(trainer.current_epoch), "final": False},
                        checkpoint=tune.Checkpoint.from_directory(d))


def _val_mse(model, X_val: pd.DataFrame, y_val: pd.Series) -> float:
    pred = model.predict(X_val)["expected_return"].to_numpy()
    y = y_val.to_numpy(dtype="float64")
    ok = np.isfinite(y)
    return float(np.mean((pred[ok] - y[ok]) ** 2))


def _final(model, X_val, y_val, extra: dict) -> None:
    with tempfile.TemporaryDirectory() as d:
        model.save(Path(d) / "model")
        tune.report({"val_mse": _val_mse(model, X_val, y_val), "final": True, **extra},
                    checkpoint=tune.Checkpoint.from_directory(d))


def train_model(config: dict, *, model: str, X: pd.DataFrame, y: pd.Series, X_val: pd.DataFrame,
                y_val: pd.Series) -> None:
    """One trial: fit ``model`` with ``config`` on (X, y), early-stopped on (X_val, y_val)."""
    forecaster = create(model, dict(config))
    extra: dict = {}
    if model_class(model).consumes == "sequence":
        work = Path(tempfile.mkdtemp(prefix="trial-"))
        resume = None
        ckpt = tune.get_checkpoint()
        if ckpt is not None:                     # a restored trial continues from its last epoch
            with ckpt.as_directory() as d:
                if (Path(d) / CKPT).exists():
                    resume = str(shutil.copy(Path(d) / CKPT, work / CKPT))
            extra["resumed"] = resume is not None
        forecaster.set_training_hooks(callbacks=[TuneReport()], resume_from=resume)
        try:
            forecaster.fit(X, y, X_val, y_val)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        extra["epochs"] = forecaster.fit_info_["epochs"]
    else:
        forecaster.fit(X, y, X_val, y_val)
    _final(forecaster, X_val, y_val, extra)
