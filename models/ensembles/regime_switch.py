"""Regime switching: three specialists, chosen row by row by the HMM regime.

- *trending* -> momentum: the last bar's and the 5-bar return, in units of volatility;
- *ranging* -> mean reversion: the last bar's return (short-term reversal) and the position
  inside the 20-bar Bollinger band;
- *volatile* -> breakout: how far the close is beyond the band (0 inside it) and the last
  bar's return.

On the training window the HMM is fitted, every row gets its filtered regime, and each
specialist's signal is mapped to the forward return (ridge) and to the up-probability
(logistic regression) on the rows of its own regime only, so a specialist whose rule does not
work in its regime learns a slope near zero instead of being trusted. Regimes seen fewer than
``min_regime_rows`` times fall back to a fit on all training rows.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge

from models.base import Forecaster
from models.regimes.hmm import REGIMES, RET_COLUMNS, VOL_COLUMN, RegimeHMM
from pipelines.errors import ModelError

SPECIALIST_OF = {"trending": "momentum", "ranging": "mean_reversion", "volatile": "breakout"}
SIGNALS = {"momentum": ["last_bar", "trend_5"], "mean_reversion": ["last_bar", "band"],
           "breakout": ["last_bar", "band_excess"]}
BAND_COLUMN = "bb_pos_20"


def specialist_signals(X: pd.DataFrame) -> pd.DataFrame:
    """The three specialists' raw signals (all known at each row's close)."""
    need = [RET_COLUMNS[0], VOL_COLUMN, BAND_COLUMN]
    missing = [c for c in need if c not in X.columns]
    if missing:
        raise ModelError(f"regime_switch needs the core feature columns {missing}")
    rets = [c for c in RET_COLUMNS if c in X.columns]
    vol = X[VOL_COLUMN].where(X[VOL_COLUMN] > 0)
    band = X[BAND_COLUMN]
    return pd.DataFrame({
        "last_bar": X[RET_COLUMNS[0]] / vol,
        "trend_5": X[rets].sum(axis=1) / (vol * np.sqrt(len(rets))),
        "band": band,
        "band_excess": np.sign(band) * (band.abs() - 0.5).clip(lower=0),
    }, index=X.index).fillna(0.0)


class RegimeSwitchForecaster(Forecaster):
    name = "regime_switch"
    consumes = "tabular"

    def _fit(self, X, y, X_val, y_val) -> None:
        ok = np.isfinite(y.to_numpy(dtype="float64"))
        X, y = X[ok], y[ok]
        self.hmm_ = RegimeHMM(random_state=int(self.params.get("random_state", 0))).fit(X)
        regime = self.hmm_.labels(X).to_numpy()
        sig = specialist_signals(X)
        min_rows = int(self.params.get("min_regime_rows", 50))
        alpha = float(self.params.get("alpha", 1.0))
        self.fits_ = {}
        for reg in REGIMES:
            col = SIGNALS[SPECIALIST_OF[reg]]
            rows = regime == reg
            if rows.sum() < min_rows or (y[rows] > 0).nunique() < 2:
                rows = np.ones(len(y), dtype=bool)
            s = sig.loc[rows, col].to_numpy()
            scale = s.std(axis=0) + 1e-12
            yr = y.to_numpy()[rows]
            up = (yr > 0).astype(int)
            ridge = Ridge(alpha=alpha).fit(s / scale, yr)
            logit = (LogisticRegression(C=1.0, max_iter=300).fit(s / scale, up)
                     if len(np.unique(up)) > 1 else None)
            self.fits_[reg] = {"signal": col, "scale": scale, "ridge": ridge, "logit": logit,
                               "base_rate": float(up.mean())}

    def _predict(self, X: pd.DataFrame) -> pd.DataFrame:
        regime = self.hmm_.labels(X).to_numpy()
        sig = specialist_signals(X)
        er = np.zeros(len(X))
        p = np.zeros(len(X))
        for reg, fit in self.fits_.items():
            rows = regime == reg
            if not rows.any():
                continue
            s = sig.loc[rows, fit["signal"]].to_numpy() / fit["scale"]
            er[rows] = fit["ridge"].predict(s)
            p[rows] = fit["logit"].predict_proba(s)[:, 1] if fit["logit"] is not None else fit["base_rate"]
        return pd.DataFrame({"expected_return": er, "prob_up": p, "confidence": np.abs(p - 0.5) * 2,
                             "regime": regime}, index=X.index)

    def _save_weights(self, path: Path) -> None:
        joblib.dump({"hmm": self.hmm_, "fits": self.fits_}, path / "model.joblib")

    def _load_weights(self, path: Path) -> None:
        state = joblib.load(path / "model.joblib")
        self.hmm_, self.fits_ = state["hmm"], state["fits"]
