"""Walk-forward training: one Ray task per fold, out-of-sample predictions only."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import ray

from cluster.placement import training_options
from models.training.dataset import Dataset
from models.zoo import create, model_class
from pipelines.config import WalkForwardConfig
from models.training.splits import Fold, walk_forward_splits


@dataclass
class WalkForwardResult:
    model: str
    predictions: pd.DataFrame   # ts, fold, expected_return, prob_up, confidence, realized_return
    folds: list[dict]           # per fold: train/test spans
    final_model: object         # the model of the last fold (trained on the latest window)


def splits_for(ds: Dataset, wf: WalkForwardConfig) -> list[Fold]:
    return walk_forward_splits(len(ds), horizon=ds.horizon, train_bars=wf.train_bars,
                               test_bars=wf.test_bars, purge_bars=wf.purge_bars,
                               embargo_bars=wf.embargo_bars, expanding=wf.expanding,
                               validation_fraction=wf.validation_fraction)


def fit_fold(model_name: str, params: dict, X: pd.DataFrame, y: pd.Series, fold: Fold,
             keep_model: bool = False) -> tuple[pd.DataFrame, dict, object | None]:
    """Fit on the fold's training rows, predict its test rows."""
    model = create(model_name, params)
    X_val = X.iloc[fold.val] if len(fold.val) else None
    y_val = y.iloc[fold.val] if len(fold.val) else None
    model.fit(X.iloc[fold.fit], y.iloc[fold.fit], X_val, y_val)
    Xt = X.iloc[fold.test]
    pred = model.predict(Xt)
    pred["realized_return"] = y.iloc[fold.test].to_numpy()
    pred["fold"] = fold.index
    info = {"fold": fold.index, "train_start": X.index[fold.fit[0]], "train_end": X.index[fold.train[-1]],
            "test_start": Xt.index[0], "test_end": Xt.index[-1], "n_fit": len(fold.fit),
            "n_val": len(fold.val), "n_test": len(fold.test)}
    return pred, info, (model if keep_model else None)


_fit_fold_remote = ray.remote(fit_fold)


def fold_task_name(ds: Dataset, model: str, fold: Fold, folds: list[Fold]) -> str:
    """The name a fold's Ray task carries, so the Ray dashboard's job and task pages (and the
    state API) show which symbol, model and fold are running, done or failed."""
    return f"walkforward {ds.symbol} {model} fold {fold.index + 1}/{len(folds)}"


def run_walkforward(ds: Dataset, model_name: str, wf: WalkForwardConfig, params: dict | None = None,
                    use_ray: bool = True, use_gpu: bool = False, timeout: float = 3600) -> WalkForwardResult:
    """All folds of one model on one dataset; folds run in parallel as Ray tasks when Ray is up."""
    params = dict(params or {})
    folds = splits_for(ds, wf)
    last = len(folds) - 1
    if use_ray and ray.is_initialized():
        X_ref, y_ref = ray.put(ds.X), ray.put(ds.y)
        opts = training_options(use_gpu and model_class(model_name).wants_gpu)
        refs = [_fit_fold_remote.options(**opts, max_retries=2, name=fold_task_name(ds, model_name, f, folds)).remote(
            model_name, params, X_ref, y_ref, f, f.index == last) for f in folds]
        outs = ray.get(refs, timeout=timeout)
    else:
        outs = [fit_fold(model_name, params, ds.X, ds.y, f, f.index == last) for f in folds]
    preds = pd.concat([o[0] for o in outs]).sort_index()
    preds.index.name = "ts"
    return WalkForwardResult(model=model_name, predictions=preds, folds=[o[1] for o in outs],
                             final_model=outs[-1][2])


def run_walkforward_many(ds: Dataset, model_names: list[str], wf: WalkForwardConfig,
                         params: dict[str, dict] | None = None, use_ray: bool = True,
                         use_gpu: bool = False, timeout: float = 3600,
                         progress: bool = False) -> dict[str, WalkForwardResult]:
    """Several models on one dataset: every fold of every model is submitted at once, so Ray
    keeps all CPUs (and the GPU node, for models that want it) busy across models too."""
    params = params or {}
    if not (use_ray and ray.is_initialized()):
        return {m: run_walkforward(ds, m, wf, params.get(m), use_ray=False) for m in model_names}
    folds = splits_for(ds, wf)
    last = len(folds) - 1
    X_ref, y_ref = ray.put(ds.X), ray.put(ds.y)
    refs = {}
    for m in model_names:
        opts = training_options(use_gpu and model_class(m).wants_gpu)
        refs[m] = [_fit_fold_remote.options(**opts, max_retries=2, name=fold_task_name(ds, m, f, folds)).remote(
            m, dict(params.get(m) or {}), X_ref, y_ref, f, f.index == last) for f in folds]
    if progress:
        from tqdm import tqdm
        pending = [r for rs in refs.values() for r in rs]
        with tqdm(total=len(pending), desc=f"folds {ds.symbol}", leave=False) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=timeout)
                if not done:
                    raise TimeoutError(f"walk-forward folds of {ds.symbol} still running after {timeout} s")
                bar.update(len(done))
    out = {}
    for m, rs in refs.items():
        outs = ray.get(rs, timeout=timeout)
        preds = pd.concat([o[0] for o in outs]).sort_index()
        preds.index.name = "ts"
        out[m] = WalkForwardResult(model=m, predictions=preds, folds=[o[1] for o in outs],
                                   final_model=outs[-1][2])
    return out


def assert_no_overlap(ds: Dataset, folds: list[Fold]) -> None:
    """Every training label must be known by the open of the first test bar (no training label
    spans a test bar's return)."""
    for f in folds:
        train_known = ds.label_known_at.iloc[f.train].max()
        test_open = ds.X.index[f.test[0]]
        if train_known > test_open:
            raise AssertionError(f"fold {f.index}: a training label is known at {train_known}, "
                                 f"after the test window opens at {test_open}")
