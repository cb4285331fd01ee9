"""Is there an edge? Statistical tests on out-of-sample predictions that drift cannot fool.

A series that mostly goes up makes "always long" right more than half of the time, so testing
directional accuracy against 50% rewards drift. The benchmark here is the always-majority
predictor on the same rows: its accuracy is the majority rate ``max(p_up, 1 - p_up)`` of the
realized moves over those rows. Per row, ``d = hit(model) - hit(majority)`` (values -1, 0, 1; a
paired, McNemar-style comparison); the test is one-sided on the mean of ``d`` (= accuracy -
majority rate) with a Newey-West standard error with ``lags = horizon`` (h-bar labels overlap for
h - 1 bars). A predictor that always says the majority direction has ``d = 0`` on every row and
can never pass; nor can one less accurate than that.

The raw p-values are corrected over every test of a run (every symbol x model x horizon, and
every cross-sectional test) with Holm's step-down method (family-wise error rate): see
:func:`adjust` and :mod:`pipelines.evaluation.verdict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from pipelines.evaluation.metrics import per_period_sharpe

CORRECTION = "holm"


@dataclass(frozen=True)
class EdgeTest:
    n: int                  # rows with a non-zero prediction and a non-zero realized move
    accuracy: float
    majority_rate: float    # accuracy of always predicting the majority direction on these rows
    excess_accuracy: float  # accuracy - majority_rate
    t: float                # Newey-West t of the mean hit difference (model - majority)
    p_value: float          # one-sided P(excess >= observed | no skill beyond the majority)
    lags: int               # Newey-West lags (= horizon)
    sharpe: float           # per-period Sharpe of sign(pred) * realized, gross (reported only)
    alpha: float = 0.05     # family-wise level
    p_adjusted: float | None = None   # after the run-wide correction (None: not yet corrected)

    @property
    def has_edge(self) -> bool:
        p = self.p_value if self.p_adjusted is None else self.p_adjusted
        return bool(self.excess_accuracy > 0 and np.isfinite(p) and p < self.alpha)

    def as_dict(self) -> dict:
        return {**asdict(self), "has_edge": self.has_edge}


def edge_test(pred, realized, horizon: int = 1, n_tests: int = 1, alpha: float = 0.05) -> EdgeTest:
    """Directional accuracy of ``pred`` against the always-majority predictor on the same rows.
    ``n_tests`` > 1 applies a Bonferroni bound to this test alone (for a standalone check; a
    run corrects all its tests together with Holm instead)."""
    p = np.asarray(pred, dtype="float64")
    r = np.asarray(realized, dtype="float64")
    ok = np.isfinite(p) & np.isfinite(r) & (p != 0) & (r != 0)
    p, r = p[ok], r[ok]
    n = int(len(p))
    if n < 10:
        raise ValueError(f"an edge test needs at least 10 non-zero predictions; got {n}")
    up = r > 0
    majority_up = bool(up.mean() >= 0.5)
    hit = (np.sign(p) == np.sign(r)).astype("float64")
    hit_major = (up == majority_up).astype("float64")
    d = hit - hit_major
    lags = max(1, int(horizon))
    t = _nw_t(d, lags)
    pval = float(stats.norm.sf(t)) if np.isfinite(t) else 1.0
    adj = min(1.0, pval * n_tests) if n_tests > 1 else None
    return EdgeTest(n=n, accuracy=float(hit.mean()), majority_rate=float(hit_major.mean()),
                    excess_accuracy=float(d.mean()), t=t, p_value=pval, lags=lags,
                    sharpe=per_period_sharpe(np.sign(p) * r), alpha=alpha, p_adjusted=adj)


def _nw_t(d: np.ndarray, lags: int) -> float:
    """t of the mean of ``d`` with a Newey-West (Bartlett) standard error; NaN with no variation."""
    from pipelines.evaluation.signal import newey_west_t
    return newey_west_t(d, lags)[1]


def t_to_p(t: float) -> float:
    """One-sided p-value of a t statistic (normal approximation); 1 when undefined."""
    return float(stats.norm.sf(t)) if t is not None and np.isfinite(t) else 1.0


def adjust(pvalues, method: str = CORRECTION) -> np.ndarray:
    """p-values adjusted for multiple testing: ``holm`` (family-wise, the default) or ``fdr_bh``
    (Benjamini-Hochberg false discovery rate)."""
    from statsmodels.stats.multitest import multipletests
    p = np.asarray(pvalues, dtype="float64")
    if len(p) == 0:
        return p
    p = np.where(np.isfinite(p), p, 1.0)
    return multipletests(p, method=method)[1]
