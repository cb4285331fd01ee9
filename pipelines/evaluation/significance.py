"""Is there an edge? Statistical tests on out-of-sample predictions, used both to report an
edge on real data and to prove its absence where none can exist (the random walk).

The check uses non-overlapping labels only (every h-th row for an h-bar horizon), so the
observations it counts are independent under the null. Two tests, both with a Bonferroni
correction over the number of models/configurations compared:

- a binomial test of the directional hits against 50%;
- the probabilistic Sharpe ratio of the gross sign-following returns ``sign(pred) * realized``,
  two-sided: a Sharpe significantly above *or* below zero is a finding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from pipelines.evaluation.metrics import per_period_sharpe, probabilistic_sharpe


@dataclass(frozen=True)
class EdgeTest:
    n: int                 # independent (non-overlapping) predictions counted
    accuracy: float
    binomial_p: float      # one-sided P(hits >= observed | no edge)
    sharpe: float          # per-period Sharpe of sign(pred) * realized, gross of costs
    psr: float             # P(true Sharpe > 0)
    alpha: float           # per-test level after the Bonferroni correction
    accuracy_edge: bool    # accuracy significantly above 50%
    sharpe_nonzero: bool   # Sharpe significantly different from zero (either side)

    @property
    def has_edge(self) -> bool:
        return self.accuracy_edge or (self.sharpe_nonzero and self.sharpe > 0)

    def as_dict(self) -> dict:
        return {**asdict(self), "has_edge": self.has_edge}


def edge_test(pred, realized, horizon: int = 1, n_tests: int = 1, alpha: float = 0.01) -> EdgeTest:
    """Test the predictions for an edge at family-wise level ``alpha`` over ``n_tests``."""
    p = np.asarray(pred, dtype="float64")[:: max(1, int(horizon))]
    r = np.asarray(realized, dtype="float64")[:: max(1, int(horizon))]
    ok = np.isfinite(p) & np.isfinite(r) & (p != 0) & (r != 0)
    p, r = p[ok], r[ok]
    n = int(len(p))
    a = alpha / max(1, int(n_tests))
    if n < 10:
        raise ValueError(f"an edge test needs at least 10 non-zero, non-overlapping predictions; got {n}")
    hits = int(np.sum(np.sign(p) == np.sign(r)))
    binom_p = float(stats.binomtest(hits, n, 0.5, alternative="greater").pvalue)
    strat = np.sign(p) * r
    psr = probabilistic_sharpe(strat, 0.0)
    return EdgeTest(n=n, accuracy=hits / n, binomial_p=binom_p, sharpe=per_period_sharpe(strat),
                    psr=psr, alpha=a, accuracy_edge=binom_p < a,
                    sharpe_nonzero=bool(np.isfinite(psr) and (psr > 1 - a / 2 or psr < a / 2)))
