"""A Ray Tune search over one model on one dataset: trials placed where training belongs (a
GPU only when the cluster has one), trial checkpoints, ASHA or FIFO scheduling, resume after
a killed driver, and the best trial recorded in the model registry."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from cluster.placement import training_options
from models.registry import ModelRecord, register
from models.training.dataset import Dataset
from models.tuning.spaces import search_space
from models.tuning.trainables import train_model
from models.zoo import model_class
from pipelines.errors import ModelError
from pipelines.store.base import Store

SPEC = "meridian_tune.json"
METRIC, MODE = "val_mse", "min"


class TuneSettings(BaseModel):
    """How a search runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trials: int = Field(8, gt=0, description="number of sampled configurations")
    scheduler: Literal["asha", "fifo"] = Field("asha", description="ASHA stops weak trials early")
    max_epochs: int = Field(20, gt=0, description="epoch budget of a deep trial (ASHA's max_t)")
    grace_period: int = Field(2, gt=0, description="epochs before ASHA may stop a trial")
    max_concurrent: int = Field(2, gt=0, description="trials at once")
    cpus_per_trial: float = Field(1.0, gt=0)
    val_fraction: float = Field(0.2, gt=0, lt=0.9, description="tail of the rows used for validation")
    seed: int = 0


@dataclass
class TuneOutcome:
    experiment_path: str
    model: str
    best_params: dict[str, Any]
    best_metrics: dict[str, Any]
    best_checkpoint: str | None
    trials: list[dict[str, Any]]


def split(ds: Dataset, val_fraction: float) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame, pd.Series]:
    """Training rows, then a purge of the label horizon, then the validation tail."""
    n = len(ds)
    n_val = max(1, int(n * val_fraction))
    end_fit = n - n_val - ds.horizon
    if end_fit < 20:
        raise ModelError(f"{ds.symbol}: {n} rows are too few to tune on (need a training slice)")
    return (ds.X.iloc[:end_fit], ds.y.iloc[:end_fit], ds.X.iloc[n - n_val:], ds.y.iloc[n - n_val:])


def _trainable(model: str, ds: Dataset, settings: TuneSettings):
    X, y, Xv, yv = split(ds, settings.val_fraction)
    opts = training_options(model_class(model).wants_gpu, settings.cpus_per_trial)
    res = {"cpu": opts["num_cpus"], "gpu": opts.get("num_gpus", 0)}
    return tune.with_resources(tune.with_parameters(train_model, model=model, X=X, y=y, X_val=Xv, y_val=yv), res)


class TrialProgress(tune.Callback):
    """A tqdm bar over finished trials."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.bar = total, desc, None

    def setup(self, **info) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=self.total, desc=self.desc, leave=False)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.on_trial_complete(iteration, trials, trial)

    def on_experiment_end(self, trials, **info) -> None:
        if self.bar is not None:
            self.bar.close()


class DashboardProgress(tune.Callback):
    """Each trial's results, as they arrive, to Ray (:class:`cluster.progress.Progress`): the
    dashboard and the state API show ``tune <model> <symbol> trial <id> iteration i (done k/n)``
    with the trial's metrics so far while the search runs."""

    def __init__(self, total: int, subject: str):
        self.total, self.subject, self.board, self.done = total, subject, None, 0

    def __getstate__(self) -> dict:   # Tune pickles its callbacks with the experiment: no actor handle
        return {**self.__dict__, "board": None}

    def setup(self, **info) -> None:
        from cluster.progress import Progress
        self.board = Progress("tune", self.subject)

    def _report(self, trial, result: dict | None, what: str) -> None:
        if self.board is None:
            return
        r = result or trial.last_result or {}
        self.board.report(f"trial {trial.trial_id} {what} (done {self.done}/{self.total})",
                          **{k: r.get(k) for k in (METRIC, "val_loss", "epoch") if r.get(k) is not None})

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._report(trial, result, f"iteration {result.get('training_iteration')}")

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        self._report(trial, None, "finished")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.done += 1
        self._report(trial, None, "failed")

    def on_experiment_end(self, trials, **info) -> None:
        if self.board is not None:
            self.board.close()


def run_search(ds: Dataset, model: str, settings: TuneSettings, storage: str | Path, *,
               fixed: dict[str, Any] | None = None, name: str | None = None,
               extra_spec: dict[str, Any] | None = None, progress: bool = False) -> TuneOutcome:
    cls = model_class(model)
    fixed = dict(fixed or {})
    if cls.consumes == "sequence":
        fixed.setdefault("max_epochs", settings.max_epochs)
        fixed.setdefault("seed", settings.seed)
    space = search_space(model, cls.consumes, fixed)
    name = name or f"{model}-{ds.symbol}-{_digest(model, ds, settings, fixed)}"
    scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=settings.max_epochs + 1,
                               grace_period=min(settings.grace_period, settings.max_epochs),
                               reduction_factor=2)
                 if settings.scheduler == "asha" else FIFOScheduler())
    storage = Path(storage).resolve()
    exp = storage / name
    exp.mkdir(parents=True, exist_ok=True)
    (exp / SPEC).write_text(json.dumps({"model": model, "symbol": ds.symbol, "timeframe": ds.timeframe,
                                        "horizon": ds.horizon, "fixed": fixed,
                                        "settings": settings.model_dump(), **(extra_spec or {})},
                                       default=str, indent=2))
    tuner = tune.Tuner(
        _trainable(model, ds, settings), param_space=space,
        tune_config=tune.TuneConfig(metric=METRIC, mode=MODE, num_samples=settings.trials, scheduler=scheduler,
                                    reuse_actors=True,
                                    search_alg=BasicVariantGenerator(random_state=settings.seed,
                                                                     max_concurrent=settings.max_concurrent)),
        run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                                  callbacks=[DashboardProgress(settings.trials, f"{model} {ds.symbol}"),
                                             *([TrialProgress(settings.trials, f"tune {model}")] if progress else [])],
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                                  failure_config=tune.FailureConfig(max_failures=1)))
    return _outcome(str(exp), model, _fit(tuner))


def resume_search(path: str | Path, ds: Dataset) -> TuneOutcome:
    """Continue a search whose driver died: finished trials stay, unfinished and errored ones
    continue from their last checkpoint."""
    path = Path(path).resolve()
    spec = read_spec(path)
    settings = TuneSettings(**spec["settings"])
    if not tune.Tuner.can_restore(str(path)):
        raise ModelError(f"{path} holds no Tune experiment state to resume")
    tuner = tune.Tuner.restore(str(path), trainable=_trainable(spec["model"], ds, settings),
                               resume_unfinished=True, resume_errored=True)
    return _outcome(str(path), spec["model"], _fit(tuner))


def _fit(tuner):
    """Tune prints its tables to stdout; keep stdout for the command's own result.

    The experiment state is saved after every controller step (``TUNE_GLOBAL_CHECKPOINT_S=0``
    unless set): Tune deletes a trial's oldest checkpoint beyond ``num_to_keep`` as soon as a new
    one arrives but saves the state that names checkpoints only every ~10 s, so a driver killed
    in between leaves a state that points at a deleted checkpoint and cannot resume. Saving on
    every step keeps the named checkpoint among the two kept."""
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    with contextlib.redirect_stdout(sys.stderr):
        return tuner.fit()


def read_spec(path: str | Path) -> dict[str, Any]:
    f = Path(path) / SPEC
    if not f.exists():
        raise ModelError(f"{path} is not a meridian tune experiment (no {SPEC})")
    return json.loads(f.read_text())


def _outcome(path: str, model: str, grid) -> TuneOutcome:
    trials = []
    for r in grid:
        m = r.metrics or {}
        trials.append({"trial_id": m.get("trial_id"), "config": r.config, "val_mse": m.get(METRIC),
                       "final": bool(m.get("final")), "iterations": m.get("training_iteration"),
                       "resumed": bool(m.get("resumed", False)),
                       "error": str(r.error)[:300] if r.error else None})
    done = [(r, r.metrics) for r in grid if r.metrics and r.metrics.get("final") and r.checkpoint]
    if not done:
        raise ModelError(f"no trial of {model} finished (see {path}): "
                         + "; ".join(t["error"] or "stopped" for t in trials[:3]))
    best, metrics = min(done, key=lambda rm: rm[1][METRIC])
    return TuneOutcome(experiment_path=path, model=model, best_params=dict(best.config),
                       best_metrics={k: metrics[k] for k in (METRIC, "training_iteration") if k in metrics},
                       best_checkpoint=best.checkpoint.path, trials=trials)


def _digest(model: str, ds: Dataset, settings: TuneSettings, fixed: dict) -> str:
    payload = json.dumps([model, ds.symbol, ds.timeframe, ds.horizon, settings.model_dump(), fixed],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def record_best(store: Store, outcome: TuneOutcome, ds: Dataset, models_dir: str | Path,
                promote_it: bool = False) -> ModelRecord:
    """Copy the best trial's saved forecaster beside the registry and record it as a
    ``tune-best`` candidate (promotable like any other model)."""
    from models.registry import promote
    config_hash = hashlib.sha256(json.dumps(outcome.best_params, sort_keys=True, default=str)
                                 .encode()).hexdigest()[:16]
    model_id = f"{outcome.model}-{ds.symbol}-{ds.timeframe}-h{ds.horizon}-tune-{config_hash[:8]}"
    dest = Path(models_dir).resolve() / model_id
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(Path(outcome.best_checkpoint) / "model", dest)
    X, _, _, _ = split(ds, TuneSettings(**read_spec(outcome.experiment_path)["settings"]).val_fraction)
    rec = ModelRecord(model_id=model_id, name=outcome.model, kind="tune-best",
                      config={"params": outcome.best_params, "experiment": outcome.experiment_path},
                      config_hash=config_hash, features=list(ds.X.columns), symbols=[ds.symbol],
                      timeframe=ds.timeframe, horizon=ds.horizon, train_start=X.index[0], train_end=X.index[-1],
                      metrics={**outcome.best_metrics, "trials": len(outcome.trials),
                               "trials_finished": sum(t["final"] for t in outcome.trials)},
                      artifact_path=str(dest))
    register(store, rec)
    return promote(store, model_id) if promote_it else rec
