"""Ensembles over out-of-sample predictions of several models on the same rows.

Every combiner decides row i's weights from what was known when row i's prediction was made:
the realised return of an earlier row j (a label over h bars) is known only from row j + h on,
so trailing performance uses rows <= i - h, and the stacking meta-learner and the BMA posterior
of a fold are learned only from earlier folds' predictions whose labels were known before that
fold starts. Those two are the parameters a strategy stores (:func:`fit_weights`) and applies
(:func:`apply_weights`): the ensembles here are that same fit and application.

Input: ``{model name: frame indexed by ts}`` with expected_return, prob_up, realized_return and
fold (what :func:`models.training.walkforward.run_walkforward` returns). Output: one frame of
the same shape, on the rows every model predicted.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

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


def performance_weighted(preds: dict[str, pd.DataFrame], horizon: int = 1) -> pd.DataFrame:
    """Weights proportional to each model's out-of-sample hit rate above 50%, learned per fold
    from the earlier folds' rows whose labels were known before the fold starts (equal weights
    where no model is above 50%, and in the first fold). The parameters a strategy stores
    (:func:`fit_weights`, applied by :func:`apply_weights`), so the run's weighted ensemble is
    exactly a weighted strategy's combination."""
    return _fitted("weighted", preds, horizon)


def bayesian_average(preds: dict[str, pd.DataFrame], horizon: int = 1,
                     window: int = 500) -> pd.DataFrame:
    """Bayesian model averaging with equal priors, learned per fold: in each fold a model's weight
    is its posterior probability given the Bernoulli likelihood of its up-probabilities on the
    last ``window`` outcomes known before the fold starts (equal weights in the first fold). The
    parameters a strategy stores (:func:`fit_weights`, applied by :func:`apply_weights`)."""
    return _fitted("bma", preds, horizon, window=window)


def stacking(preds: dict[str, pd.DataFrame], horizon: int = 1, min_rows: int = 100) -> pd.DataFrame:
    """A meta-learner per fold (ridge on the models' expected returns, logistic regression on
    their log-odds), trained only on earlier folds' out-of-sample rows whose labels were known
    before the fold starts. Folds without enough such rows use the simple average. The
    parameters a strategy stores (:func:`fit_weights`, applied by :func:`apply_weights`)."""
    return _fitted("stacking", preds, horizon, min_rows=min_rows)


def _fitted(kind: str, preds: dict[str, pd.DataFrame], horizon: int, **options) -> pd.DataFrame:
    er, p, realized, fold = align(preds)
    out = apply_weights(_fit(kind, er, p, realized, fold, horizon, **options), er, p)
    return _frame(out["expected_return"].to_numpy(), out["prob_up"].to_numpy(), realized, fold)


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
# A strategy stores its combiner's parameters: one step per walk-forward fold, each learned only
# from earlier folds' out-of-sample rows whose labels were known before the fold starts (so
# replaying the run's own out-of-sample period has no look-ahead), and a final step learned from
# every labelled row, used after the run's last fold (live). A step is a weight vector (average,
# weighted, bma, and stacking where too few rows were known) or a stacking meta-learner.

FITTED = ("average", "weighted", "stacking", "bma")


def _edge_weights(er: np.ndarray, realized: np.ndarray) -> np.ndarray:
    ok = np.isfinite(realized)[:, None] & np.isfinite(er)
    hits = np.where(ok, (np.sign(er) == np.sign(realized)[:, None]).astype(float), 0.0)
    n = ok.sum(axis=0)
    rate = np.where(n > 0, hits.sum(axis=0) / np.where(n > 0, n, 1), 0.5)
    edge = np.clip(rate - 0.5, 0.0, None)
    return edge / edge.sum() if edge.sum() > 0 else np.full(er.shape[1], 1.0 / er.shape[1])


def _posterior(p: np.ndarray, realized: np.ndarray) -> np.ndarray:
    """Equal priors times the Bernoulli likelihood of each model's up-probabilities (rows x models)
    on the outcomes ``realized``: each model's posterior probability."""
    pc = np.clip(p, EPS, 1 - EPS)
    ll = np.where((realized > 0)[:, None], np.log(pc), np.log(1 - pc))
    ll = np.where(np.isfinite(ll), ll, 0.0).sum(axis=0)
    w = np.exp(ll - ll.max())
    return w / w.sum()


def _logit(p: np.ndarray) -> np.ndarray:
    pc = np.clip(p, EPS, 1 - EPS)
    return np.log(pc / (1 - pc))


def _meta(x: np.ndarray, logit: np.ndarray, realized: np.ndarray, min_rows: int) -> dict | None:
    """The stacking meta-learner on these rows (ridge on the scaled expected returns, logistic
    regression on the log-odds), or None with fewer than ``min_rows`` or one-sided outcomes."""
    if len(realized) < min_rows or len(np.unique(realized > 0)) < 2:
        return None
    from sklearn.linear_model import LogisticRegression, Ridge   # here: importing it costs a Ray worker ~0.4 s
    scale = x.std(axis=0) + 1e-12
    reg = Ridge(alpha=1.0).fit(x / scale, realized)
    clf = LogisticRegression(C=1.0, max_iter=500).fit(logit, (realized > 0).astype(int))
    return {"scale": [float(v) for v in scale], "er_coef": [float(v) for v in reg.coef_],
            "er_intercept": float(reg.intercept_), "p_coef": [float(v) for v in clf.coef_[0]],
            "p_intercept": float(clf.intercept_[0])}


def _apply_meta(meta: dict, x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    er = (x / np.asarray(meta["scale"])) @ np.asarray(meta["er_coef"]) + meta["er_intercept"]
    return er, expit(_logit(p) @ np.asarray(meta["p_coef"]) + meta["p_intercept"])


def _apply_linear(w: np.ndarray, x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_er = (x * w).sum(axis=1)
    out_er[~np.isfinite(x).all(axis=1)] = np.nan
    p_ok = np.isfinite(p).all(axis=1)
    return out_er, np.where(p_ok, (np.where(np.isfinite(p), p, 0.0) * w).sum(axis=1), np.nan)


def fit_weights(kind: str, preds: dict[str, pd.DataFrame], horizon: int = 1, *, window: int = 500,
                min_rows: int = 100) -> dict:
    """``{"kind", "models": [...], "folds": [{"fold", "start", "weights" | "meta"}], "final"}`` for a
    strategy's combiner: ``average`` equal weights; ``weighted`` proportional to each model's hit
    rate above 50% on the labelled earlier rows (equal where none is above); ``bma`` each model's
    posterior given its up-probabilities on the last ``window`` labelled earlier rows; ``stacking``
    a meta-learner (``meta``: ridge and logistic coefficients) on the labelled earlier rows, equal
    weights with fewer than ``min_rows`` of them. ``final`` (a weight vector or a meta-learner) is
    learned from every labelled row."""
    if kind not in FITTED:
        raise ModelError(f"a strategy's combiner is one of {', '.join(FITTED)}, got {kind!r}")
    er, p, realized, fold = align(preds)
    return _fit(kind, er, p, realized, fold, horizon, window=window, min_rows=min_rows)


def _fit(kind: str, er: pd.DataFrame, p: pd.DataFrame, realized: pd.Series, fold: pd.Series, horizon: int,
         window: int = 500, min_rows: int = 100) -> dict:
    models = list(er.columns)
    x, pr = er.to_numpy(dtype="float64"), p.to_numpy(dtype="float64")
    r, f = realized.to_numpy(dtype="float64"), fold.to_numpy()
    equal = [1.0 / len(models)] * len(models)

    def step(rows: np.ndarray) -> list[float] | dict:
        rows = rows[np.isfinite(r[rows])]                   # labelled rows only
        if kind == "average" or len(rows) == 0:
            return equal
        if kind == "weighted":
            return [float(w) for w in _edge_weights(x[rows], r[rows])]
        if kind == "bma":
            rows = rows[-window:]
            return [float(w) for w in _posterior(pr[rows], r[rows])]
        meta = _meta(x[rows], _logit(pr[rows]), r[rows], min_rows)
        return equal if meta is None else meta

    folds = []
    for k in pd.unique(f):
        start = int(np.flatnonzero(f == k)[0])
        s = step(np.arange(max(0, start - horizon + 1)))    # labels known by the fold's first row
        folds.append({"fold": int(k), "start": er.index[start].isoformat(),
                      **({"meta": s} if isinstance(s, dict) else {"weights": s})})
    return {"kind": kind, "models": models, "folds": folds, "final": step(np.arange(len(r)))}


def apply_weights(params: dict, er: pd.DataFrame, prob: pd.DataFrame) -> pd.DataFrame:
    """The combined expected return, up-probability and confidence of rows indexed by ts (one
    column per model): each row uses the step (weights or meta-learner) of the fold it falls in
    (rows after the run: the final one). A row missing a model's prediction is NaN."""
    models = params["models"]
    starts = pd.DatetimeIndex([pd.Timestamp(f["start"]) for f in params["folds"]])
    steps = [f["meta"] if "meta" in f else f["weights"] for f in params["folds"]] + [params["final"]]
    last = pd.Timestamp(params["end"]) if params.get("end") else None
    k = np.searchsorted(starts.asi8, er.index.asi8, side="right") - 1
    k = np.where(k < 0, 0, k)
    if last is not None:
        k = np.where(er.index > last, len(steps) - 1, k)
    x = er.reindex(columns=models).to_numpy(dtype="float64")
    p = prob.reindex(columns=models).to_numpy(dtype="float64")
    out = np.full((3, len(x)), np.nan)
    for j in np.unique(k):
        rows = k == j
        out[:, rows] = apply_step(steps[j], x[rows], p[rows])
    return pd.DataFrame({"expected_return": out[0], "prob_up": out[1], "confidence": out[2]}, index=er.index)


def apply_step(step: list | dict, x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of a combiner (a fold's or the final: linear weights or a meta-learner) on rows of
    the models' expected returns ``x`` and up-probabilities ``p`` (rows x models, in the
    combiner's model order): (expected_return, prob_up in [0, 1], confidence). What
    :func:`apply_weights` computes for each row; a row missing a model's prediction is NaN."""
    if isinstance(step, dict):
        er, pr = _apply_meta(step, x, p)
    else:
        er, pr = _apply_linear(np.asarray(step, dtype="float64"), x, p)
    pr = np.clip(pr, 0.0, 1.0)
    return er, pr, np.abs(pr - 0.5) * 2
