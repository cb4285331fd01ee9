"""Ensembles combine out-of-sample predictions using only what was known at each row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.ensembles.combine import (ENSEMBLES, apply_weights, average, bayesian_average, combine, fit_weights,
                                     performance_weighted, stacking)
from pipelines.errors import ModelError


def _preds(seed: int = 0, n: int = 1200, folds: int = 6):
    """Three models on the same rows: one informative, one noise, one anti-informative."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2021-01-01", periods=n, freq="h", tz="UTC")
    signal = rng.normal(0, 1, n)
    realized = 0.01 * (0.5 * signal + rng.normal(0, 1, n))
    fold = np.repeat(np.arange(folds), n // folds)

    def frame(x):
        p = 1 / (1 + np.exp(-x))
        return pd.DataFrame({"expected_return": 0.005 * x, "prob_up": p, "confidence": np.abs(p - 0.5) * 2,
                             "realized_return": realized, "fold": fold}, index=idx)
    return {"good": frame(signal), "noise": frame(rng.normal(0, 1, n)), "bad": frame(-signal)}


def _acc(df):
    return float(np.mean(np.sign(df["expected_return"]) == np.sign(df["realized_return"])))


def test_average_is_the_mean():
    preds = _preds()
    out = average(preds)
    np.testing.assert_allclose(out["prob_up"], np.mean([p["prob_up"] for p in preds.values()], axis=0))
    assert list(out.columns) == ["expected_return", "prob_up", "confidence", "realized_return", "fold"]


@pytest.mark.parametrize("name", ["weighted", "stacking", "bma"])
def test_learning_ensembles_find_the_good_model(name):
    preds = _preds()
    out = combine(name, preds, horizon=1)
    assert out.notna().all().all()
    late = out.iloc[400:]
    assert _acc(late) > _acc(average(preds).iloc[400:]) + 0.05
    assert _acc(late) > 0.6


@pytest.mark.parametrize("fn,horizon", [(performance_weighted, 1), (performance_weighted, 5),
                                        (bayesian_average, 3), (stacking, 1), (stacking, 4)])
def test_no_row_uses_an_unknown_outcome(fn, horizon):
    """Changing the outcomes from row k on cannot change any prediction before row k + horizon."""
    preds = _preds()
    base = fn(preds, horizon=horizon)
    k = 700
    changed = {m: p.assign(realized_return=np.where(np.arange(len(p)) >= k, -p["realized_return"] * 7,
                                                      p["realized_return"])) for m, p in preds.items()}
    out = fn(changed, horizon=horizon)
    cols = ["expected_return", "prob_up"]
    pd.testing.assert_frame_equal(out[cols].iloc[: k + horizon], base[cols].iloc[: k + horizon])
    assert not np.allclose(out[cols].iloc[k + horizon:].to_numpy(), base[cols].iloc[k + horizon:].to_numpy())


def test_stacking_first_fold_falls_back_to_average():
    preds = _preds()
    st, av = stacking(preds), average(preds)
    first = st["fold"] == 0
    np.testing.assert_allclose(st.loc[first, "prob_up"], av.loc[first, "prob_up"])


def test_alignment_and_errors():
    preds = _preds()
    preds["short"] = preds["good"].iloc[100:]
    assert len(average(preds)) == len(preds["good"]) - 100
    with pytest.raises(ModelError, match="unknown ensemble"):
        combine("median", preds)
    with pytest.raises(ModelError, match="at least one"):
        average({})
    assert set(ENSEMBLES) == {"average", "weighted", "stacking", "bma"}


@pytest.mark.parametrize("kind,fn", [("weighted", performance_weighted), ("stacking", stacking),
                                     ("bma", bayesian_average)])
def test_a_strategys_stored_combiner_is_the_ensemble(kind, fn):
    """What a strategy stores (fit_weights, through JSON) and applies (apply_weights) gives the
    ensemble's rows exactly; a step learned before fold k does not move when outcomes from fold
    k's start on change; rows after the run use the final step."""
    import json
    preds = _preds()
    fitted = json.loads(json.dumps(fit_weights(kind, preds, horizon=2)))
    er = pd.DataFrame({m: p["expected_return"] for m, p in preds.items()})
    prob = pd.DataFrame({m: p["prob_up"] for m, p in preds.items()})
    ens = fn(preds, horizon=2)
    got = apply_weights(fitted, er, prob)
    cols = ["expected_return", "prob_up", "confidence"]
    np.testing.assert_array_equal(got[cols].to_numpy(), ens[cols].to_numpy())
    step = "meta" if kind == "stacking" else "weights"
    assert fitted["folds"][0] == {"fold": 0, "start": er.index[0].isoformat(), "weights": [1 / 3] * 3}
    assert all(step in f for f in fitted["folds"][1:])
    k = 3 * 200                                               # fold 3 starts at row 600
    noise_right = preds["noise"]["expected_return"]         # from fold 3 on, the noise model is always right
    changed = {m: p.assign(realized_return=np.where(np.arange(len(p)) >= k - 1, noise_right, p["realized_return"]))
               for m, p in preds.items()}
    again = fit_weights(kind, changed, horizon=2)
    assert again["folds"][:4] == fitted["folds"][:4] and again["folds"][4] != fitted["folds"][4]
    # after the run (params["end"]): the final step, learned from every labelled row
    late = pd.date_range(er.index[-1], periods=3, freq="h", tz="UTC")[1:]
    live = apply_weights({**fitted, "end": er.index[-1].isoformat()}, er.iloc[:2].set_axis(late),
                         prob.iloc[:2].set_axis(late))
    final = fitted["final"]
    if kind == "stacking":
        x = er.iloc[:2].to_numpy() / np.asarray(final["scale"])
        np.testing.assert_allclose(live["expected_return"], x @ np.asarray(final["er_coef"]) + final["er_intercept"])
        assert final["er_coef"][0] > 0 > final["er_coef"][2]          # the good model up, the bad one down
    else:
        np.testing.assert_allclose(live["prob_up"], prob.iloc[:2].to_numpy() @ np.asarray(final))
        assert final[0] > (0.99 if kind == "bma" else 0.8)            # the good model's posterior / edge share


def test_a_strategys_combiner_is_one_of_the_fitted_kinds():
    with pytest.raises(ModelError, match="a strategy's combiner is one of average, weighted, stacking, bma"):
        fit_weights("median", _preds())
