"""Ensembles over out-of-sample predictions of several models on the same rows.

Every combiner decides row i's weights from what was known when row i's prediction was made:
the realised return of an earlier row j (a label over h bars) is known only from row j + h on,
so trailing performance uses rows <= i - h, and the stacking meta-learner of a fold is trained
only on earlier folds' predictions whose labels were known before that fold starts.

Input: ``{model name: frame indexed by ts}`` with expected_return, prob_up, realized_return and
fold (what :func:`models.training.walkforward.run_walkforward` returns). Output: one frame of
the same shape, on the rows every model predicted.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge

from pipelines.errors import ModelError

EPS = 1e-6


def align(preds: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """(expected returns, up-probabilities) with one column per model, the realised return and
    the fold, on the rows common to every model."""
    if not preds:
        raise ModelError("an ensemble needs at least one model's predictions")
    idx = None
    for df in preds.values():
        idx = df.index if idx is None else idx.intersection(df.index)
    if idx is None or len(idx) == 0:
        raise ModelError("the models' out-of-sample predictions share no rows")
    idx = idx.sort_values()
    er = pd.DataFrame({m: df.loc[idx, "expected_return"] for m, df in preds.items()})
    p = pd.DataFrame({m: df.loc[idx, "prob_up"] for m, df in preds.items()})
    first = next(iter(preds.values())).loc[idx]
    return er, p, first["realized_return"], first["fold"]


def _frame(er: np.ndarray, p: np.ndarray, realized: pd.Series, fold: pd.Series) -> pd.DataFrame:
    p = np.clip(p, 0.0, 1.0)
    return pd.DataFrame({"expected_return": er, "prob_up": p, "confidence": np.abs(p - 0.5) * 2,
                         "realized_return": realized.to_numpy(), "fold": fold.to_numpy()},
                        index=realized.index)


def _weighted(er: pd.DataFrame, p: pd.DataFrame, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = w / w.sum(axis=1, keepdims=True)
    return (er.to_numpy() * w).sum(axis=1), (p.to_numpy() * w).sum(axis=1)


def average(preds: dict[str, pd.DataFrame], horizon: int = 1) -> pd.DataFrame:
    """Equal weights."""
    er, p, realized, fold = align(preds)
    return _frame(er.mean(axis=1).to_numpy(), p.mean(axis=1).to_numpy(), realized, fold)


def _known_trailing(values: pd.DataFrame, horizon: int, window: int, how: str) -> pd.DataFrame:
    """Trailing mean/sum over rows <= i - horizon (NaN until one is known)."""
    roll = values.rolling(window, min_periods=1)
    out = roll.mean() if how == "mean" else roll.sum()
    return out.shift(horizon)


def performance_weighted(preds: dict[str, pd.DataFrame], horizon: int = 1,
                         window: int = 250) -> pd.DataFrame:
    """Weights proportional to each model's recent out-of-sample hit rate above 50% (trailing
    ``window`` rows whose labels are known); equal weights where no model is above 50%."""
    er, p, realized, fold = align(preds)
    hits = pd.DataFrame({m: (np.sign(er[m]) == np.sign(realized)).astype(float) for m in er})
    edge = (_known_trailing(hits, horizon, window, "mean") - 0.5).clip(lower=0).fillna(0.0).to_numpy()
    w = np.where(edge.sum(axis=1, keepdims=True) > 0, edge, 1.0)
    return _frame(*_weighted(er, p, w), realized, fold)


def bayesian_average(preds: dict[str, pd.DataFrame], horizon: int = 1,
                     window: int = 500) -> pd.DataFrame:
    """Bayesian model averaging with equal priors: each model's weight is its posterior
    probability given the Bernoulli likelihood of its up-probabilities on the trailing
    ``window`` known outcomes."""
    er, p, realized, fold = align(preds)
    up = (realized > 0).to_numpy()[:, None]
    pc = np.clip(p.to_numpy(), EPS, 1 - EPS)
    ll = pd.DataFrame(np.where(up, np.log(pc), np.log(1 - pc)), index=p.index, columns=p.columns)
    ll = _known_trailing(ll, horizon, window, "sum").fillna(0.0).to_numpy()
    w = np.exp(ll - ll.max(axis=1, keepdims=True))
    return _frame(*_weighted(er, p, w), realized, fold)


def stacking(preds: dict[str, pd.DataFrame], horizon: int = 1, min_rows: int = 100) -> pd.DataFrame:
    """A meta-learner per fold (ridge on the models' expected returns, logistic regression on
    their log-odds), trained only on earlier folds' out-of-sample rows whose labels were known
    before the fold starts. Folds without enough such rows use the simple average."""
    er, p, realized, fold = align(preds)
    logit = np.log(np.clip(p.to_numpy(), EPS, 1 - EPS) / (1 - np.clip(p.to_numpy(), EPS, 1 - EPS)))
    ern = er.to_numpy()
    out_er, out_p = ern.mean(axis=1), p.to_numpy().mean(axis=1)
    r = realized.to_numpy()
    f = fold.to_numpy()
    for k in pd.unique(f):
        rows = np.flatnonzero(f == k)
        start = rows[0]
        train = np.flatnonzero(f[: max(0, start - horizon + 1)] != k)  # labels known by `start`
        train = train[np.isfinite(r[train])]
        if len(train) < min_rows or len(np.unique(r[train] > 0)) < 2:
            continue
        scale = ern[train].std(axis=0) + 1e-12
        reg = Ridge(alpha=1.0).fit(ern[train] / scale, r[train])
        clf = LogisticRegression(C=1.0, max_iter=500).fit(logit[train], (r[train] > 0).astype(int))
        out_er[rows] = reg.predict(ern[rows] / scale)
        out_p[rows] = clf.predict_proba(logit[rows])[:, 1]
    return _frame(out_er, out_p, realized, fold)


ENSEMBLES: dict[str, Callable[..., pd.DataFrame]] = {
    "average": average,
    "weighted": performance_weighted,
    "stacking": stacking,
    "bma": bayesian_average,
}


def combine(name: str, preds: dict[str, pd.DataFrame], horizon: int = 1) -> pd.DataFrame:
    try:
        fn = ENSEMBLES[name]
    except KeyError:
        raise ModelError(f"unknown ensemble {name!r}: one of {', '.join(ENSEMBLES)} "
                         "(the regime-switching ensemble runs as the model 'regime_switch')") from None
    return fn(preds, horizon=horizon)


# ---------------------------------------------------------------- fitted once inside a run
# A strategy stores its combiner's parameters: one weight vector per walk-forward fold, each
# learned only from earlier folds' out-of-sample rows whose labels were known before the fold
# starts (so replaying the run's own out-of-sample period has no look-ahead), and a final vector
# learned from every labelled row, used after the run's last fold (live).

FITTED = ("average", "weighted")


def _edge_weights(er: np.ndarray, realized: np.ndarray) -> np.ndarray:
    ok = np.isfinite(realized)[:, None] & np.isfinite(er)
    hits = np.where(ok, (np.sign(er) == np.sign(realized)[:, None]).astype(float), 0.0)
    n = ok.sum(axis=0)
    rate = np.where(n > 0, hits.sum(axis=0) / np.where(n > 0, n, 1), 0.5)
    edge = np.clip(rate - 0.5, 0.0, None)
    return edge / edge.sum() if edge.sum() > 0 else np.full(er.shape[1], 1.0 / er.shape[1])


def fit_weights(kind: str, preds: dict[str, pd.DataFrame], horizon: int = 1) -> dict:
    """``{"models": [...], "folds": [{"fold", "start", "weights"}], "final": [...]}`` for a linear
    combiner (``average``: equal weights; ``weighted``: proportional to each model's hit rate
    above 50% on the labelled earlier rows, equal where none is above)."""
    if kind not in FITTED:
        raise ModelError(f"a strategy's combiner is one of {', '.join(FITTED)}, got {kind!r}")
    er, _, realized, fold = align(preds)
    models = list(er.columns)
    x, r, f = er.to_numpy(), realized.to_numpy(dtype="float64"), fold.to_numpy()
    equal = [1.0 / len(models)] * len(models)

    def weights(rows: np.ndarray) -> list[float]:
        if kind == "average" or len(rows) == 0:
            return equal
        return [float(w) for w in _edge_weights(x[rows], r[rows])]

    folds = []
    for k in pd.unique(f):
        start = int(np.flatnonzero(f == k)[0])
        known = np.arange(max(0, start - horizon + 1))          # labels known by the fold's first row
        folds.append({"fold": int(k), "start": er.index[start].isoformat(), "weights": weights(known)})
    return {"models": models, "folds": folds, "final": weights(np.arange(len(r)))}


def apply_weights(params: dict, er: pd.DataFrame, prob: pd.DataFrame) -> pd.DataFrame:
    """The combined expected return, up-probability and confidence of rows indexed by ts (one
    column per model): each row uses the weights of the fold it falls in (rows after the run:
    the final weights). A row missing a model's prediction is NaN."""
    models = params["models"]
    starts = pd.DatetimeIndex([pd.Timestamp(f["start"]) for f in params["folds"]])
    table = np.array([f["weights"] for f in params["folds"]] + [params["final"]], dtype="float64")
    last = pd.Timestamp(params["end"]) if params.get("end") else None
    k = np.searchsorted(starts.asi8, er.index.asi8, side="right") - 1
    k = np.where(k < 0, 0, k)
    if last is not None:
        k = np.where(er.index > last, len(table) - 1, k)
    w = table[k]                                                    # (T, M)
    x = er.reindex(columns=models).to_numpy(dtype="float64")
    p = prob.reindex(columns=models).to_numpy(dtype="float64")
    out_er = (x * w).sum(axis=1)
    out_er[~np.isfinite(x).all(axis=1)] = np.nan
    p_ok = np.isfinite(p).all(axis=1)
    out_p = np.clip(np.where(p_ok, (np.where(np.isfinite(p), p, 0.0) * w).sum(axis=1), np.nan), 0.0, 1.0)
    return pd.DataFrame({"expected_return": out_er, "prob_up": out_p, "confidence": np.abs(out_p - 0.5) * 2},
                        index=er.index)
