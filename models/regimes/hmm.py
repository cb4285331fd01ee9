"""Market regimes from a Gaussian HMM fitted on a training window only.

Observations per bar (both known at the bar's close, taken from the core features): the
trend strength ``mean(ret_lag_1..5) / vol_20`` and the log volatility ``log(vol_20)``. After
fitting, each hidden state is named from its parameters: the state with the highest mean
volatility is *volatile*; of the other two, the one whose trend strength has the larger second
moment is *trending*, the other *ranging*.

Regime probabilities are **filtered** (forward algorithm: row t uses rows <= t only), never
smoothed or Viterbi-decoded, which would read the future. ``hmmlearn``'s ``predict`` and
``predict_proba`` use the whole sequence and are therefore not used on test rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hmmlearn.hmm import GaussianHMM
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from pipelines.errors import ModelError

REGIMES = ("trending", "ranging", "volatile")
REGIME_COLUMNS = tuple(f"regime_p_{r}" for r in REGIMES)
RET_COLUMNS = tuple(f"ret_lag_{k}" for k in range(1, 6))
VOL_COLUMN = "vol_20"


def observations(X: pd.DataFrame) -> np.ndarray:
    """(n, 2) observations; rows with missing inputs are NaN."""
    rets = [c for c in RET_COLUMNS if c in X.columns]
    if not rets or VOL_COLUMN not in X.columns:
        raise ModelError(f"regime detection needs the columns ret_lag_1 and {VOL_COLUMN} "
                         f"(core feature set); got {len(X.columns)} columns without them")
    vol = X[VOL_COLUMN].to_numpy(dtype="float64")
    vol = np.where(vol > 0, vol, np.nan)
    trend = X[rets].to_numpy(dtype="float64").mean(axis=1) / vol * np.sqrt(len(rets))
    return np.column_stack([trend, np.log(vol)])


class RegimeHMM:
    """Three-state Gaussian HMM with named states. ``fit`` on training rows; ``filter_proba``
    and ``labels`` on any later rows."""

    def __init__(self, n_iter: int = 50, random_state: int = 0) -> None:
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, X: pd.DataFrame) -> "RegimeHMM":
        obs = observations(X)
        obs = obs[np.isfinite(obs).all(axis=1)]
        if len(obs) < 30:
            raise ModelError(f"regime HMM needs at least 30 complete rows to fit, got {len(obs)}")
        hmm = GaussianHMM(n_components=3, covariance_type="full", n_iter=self.n_iter,
                          random_state=self.random_state, min_covar=1e-4)
        hmm.fit(obs)
        self.startprob_ = np.asarray(hmm.startprob_, dtype="float64")
        self.transmat_ = np.asarray(hmm.transmat_, dtype="float64")
        self.means_ = np.asarray(hmm.means_, dtype="float64")
        self.covars_ = np.asarray(hmm.covars_, dtype="float64")   # (3, 2, 2) full matrices
        self.state_names_ = self._name_states(obs, hmm)
        return self

    def _name_states(self, obs: np.ndarray, hmm: GaussianHMM) -> list[str]:
        volatile = int(np.argmax(self.means_[:, 1]))
        rest = [s for s in range(3) if s != volatile]
        second = [self.means_[s, 0] ** 2 + self.covars_[s, 0, 0] for s in rest]
        trending = rest[int(np.argmax(second))]
        names = ["ranging"] * 3
        names[volatile], names[trending] = "volatile", "trending"
        return names

    def _check(self) -> None:
        if not hasattr(self, "transmat_"):
            raise ModelError("regime HMM is not fitted: call fit() on a training window first")

    def filter_proba(self, X: pd.DataFrame) -> pd.DataFrame:
        """P(regime at t | observations up to t), columns ``REGIME_COLUMNS``. Filtering starts
        from the fitted initial distribution at the first row given; a row with a missing
        observation only propagates the previous belief."""
        self._check()
        obs = observations(X)
        n = len(obs)
        loglik = np.zeros((n, 3))
        ok = np.isfinite(obs).all(axis=1)
        for s in range(3):
            loglik[ok, s] = multivariate_normal(self.means_[s], self.covars_[s],
                                                allow_singular=True).logpdf(obs[ok]).reshape(-1)
        log_a = np.log(np.clip(self.transmat_, 1e-300, None))
        alpha = np.zeros((n, 3))
        prev = np.log(np.clip(self.startprob_, 1e-300, None))
        for t in range(n):
            prior = prev if t == 0 else logsumexp(prev[:, None] + log_a, axis=0)
            post = prior + loglik[t]
            post -= logsumexp(post)
            alpha[t] = post
            prev = post
        p = np.exp(alpha)
        out = np.zeros((n, 3))
        for s, name in enumerate(self.state_names_):
            out[:, REGIMES.index(name)] += p[:, s]
        return pd.DataFrame(out, index=X.index, columns=list(REGIME_COLUMNS))

    def labels(self, X: pd.DataFrame) -> pd.Series:
        """The most probable filtered regime per row (trending / ranging / volatile)."""
        p = self.filter_proba(X).to_numpy()
        return pd.Series(np.asarray(REGIMES)[p.argmax(axis=1)], index=X.index, name="regime")
