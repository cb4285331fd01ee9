"""Panel walk-forward: one model per fold, fitted on every symbol's rows of the training dates,
predicting every symbol's rows of the test dates; the last fold's model is kept (the one a run
registers). Folds run as Ray tasks when Ray is up and
``use_ray``; otherwise one after another in this process (same results)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import ray

from cluster.placement import training_options
from models.training.panel import PanelDataset, panel_folds
from models.training.splits import Fold
from models.zoo import create, model_class
from pipelines.config import WalkForwardConfig


@dataclass
class PanelResult:
    model: str
    predictions: pd.DataFrame   # index (ts, symbol): fold, expected_return, prob_up, confidence, label, fwd_return
    folds: list[dict]           # per fold: dates and row counts
    final_model: object = None  # the last fold's model (trained on the latest training dates)


def fit_panel_fold(model_name: str, params: dict, X: pd.DataFrame, y: pd.Series,
                   fold: Fold, keep_model: bool = False) -> tuple[pd.DataFrame, dict, object | None]:
    """Fit on the fold's training rows (validation rows for early stopping), predict its test rows;
    with ``keep_model`` the fitted model comes back too."""
    model = create(model_name, params)
    has_val = len(fold.val) > 0
    model.fit(X.iloc[fold.fit], y.iloc[fold.fit], X.iloc[fold.val] if has_val else None,
              y.iloc[fold.val] if has_val else None)
    Xt = X.iloc[fold.test]
    pred = model.predict(Xt)
    pred.insert(0, "fold", fold.index)
    ts = X.index.get_level_values("ts")
    train_rows = fold.train
    info = {"fold": fold.index, "train_start": ts[train_rows.min()], "train_end": ts[train_rows.max()],
            "test_start": ts[fold.test[0]], "test_end": ts[fold.test[-1]], "n_fit": len(fold.fit),
            "n_val": len(fold.val), "n_test": len(fold.test)}
    return pred, info, (model if keep_model else None)


_fit_panel_fold_remote = ray.remote(fit_panel_fold)


def run_panel_walkforward(panel: PanelDataset, model_names: list[str], wf: WalkForwardConfig,
                          params: dict[str, dict] | None = None, *, use_ray: bool = True,
                          use_gpu: bool = False, timeout: float = 3600) -> dict[str, PanelResult]:
    """Every fold of every model; out-of-sample predictions keyed by (ts, symbol), with the
    realized label and forward return beside them."""
    params = params or {}
    folds = panel_folds(panel, wf)
    last = len(folds) - 1
    if use_ray and ray.is_initialized():
        X_ref, y_ref = ray.put(panel.X), ray.put(panel.y)
        refs = {}
        for m in model_names:
            opts = training_options(use_gpu and model_class(m).wants_gpu)
            refs[m] = [_fit_panel_fold_remote.options(**opts, max_retries=2).remote(
                m, dict(params.get(m) or {}), X_ref, y_ref, f, f.index == last) for f in folds]
        outs = {m: ray.get(rs, timeout=timeout) for m, rs in refs.items()}
    else:
        outs = {m: [fit_panel_fold(m, dict(params.get(m) or {}), panel.X, panel.y, f, f.index == last) for f in folds]
                for m in model_names}
    results = {}
    for m, o in outs.items():
        preds = pd.concat([p for p, _, _ in o]).sort_index()
        preds["label"] = panel.y.reindex(preds.index)
        preds["fwd_return"] = panel.fwd.reindex(preds.index)
        results[m] = PanelResult(model=m, predictions=preds, folds=[i for _, i, _ in o], final_model=o[-1][2])
    return results
