"""Out-of-sample metrics: known values, and the corrections for multiple tries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.evaluation.metrics import (deflated_sharpe, expected_max_sharpe, hit_rate_by_confidence,
                                          probabilistic_sharpe, profit_factor)
from pipelines.evaluation.significance import edge_test


def test_probabilistic_sharpe_matches_the_normal_case():
    rng = np.random.default_rng(0)
    r = rng.normal(0.001, 0.01, 5000)
    sr = r.mean() / r.std(ddof=1)
    # for Gaussian returns PSR ~ Phi(SR * sqrt(n - 1) / sqrt(1 + SR^2 / 2))
    from scipy.stats import norm
    expected = norm.cdf(sr * math.sqrt(len(r) - 1) / math.sqrt(1 + sr ** 2 / 2))
    assert probabilistic_sharpe(r) == pytest.approx(expected, abs=0.01)
    assert probabilistic_sharpe(-r) == pytest.approx(1 - expected, abs=0.01)


def test_deflated_sharpe_penalises_many_trials():
    rng = np.random.default_rng(1)
    r = rng.normal(0.0008, 0.01, 3000)
    psr = probabilistic_sharpe(r)
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert expected_max_sharpe(100, 1e-3) > expected_max_sharpe(10, 1e-3) > 0
    d10, d1000 = deflated_sharpe(r, 10), deflated_sharpe(r, 1000)
    assert psr > d10 > d1000
    # the best of many pure-noise strategies looks good alone and is deflated to nothing
    trials = rng.normal(0, 0.01, (200, 3000))
    sharpes = trials.mean(axis=1) / trials.std(axis=1, ddof=1)
    best = trials[np.argmax(sharpes)]
    assert probabilistic_sharpe(best) > 0.95
    assert deflated_sharpe(best, 200, sharpes) < 0.9


def test_profit_factor_and_confidence_buckets():
    assert profit_factor([0.02, -0.01, 0.01, -0.01]) == pytest.approx(1.5)
    assert profit_factor([0.01, 0.0]) == math.inf
    assert math.isnan(profit_factor([0.0, 0.0]))
    rng = np.random.default_rng(2)
    n = 4000
    conf = rng.random(n)
    realized = rng.normal(0, 1, n)
    right = rng.random(n) < 0.5 + 0.4 * conf         # more confident -> more often right
    pred = np.where(right, np.sign(realized), -np.sign(realized))
    buckets = hit_rate_by_confidence(pred, realized, conf, buckets=4)
    assert [b["bucket"] for b in buckets] == [0, 1, 2, 3]
    assert sum(b["n"] for b in buckets) == n
    rates = [b["hit_rate"] for b in buckets]
    assert rates == sorted(rates) and rates[-1] - rates[0] > 0.2


def test_edge_test_allows_for_overlapping_labels():
    """Overlapping h-bar labels make the hits autocorrelated: the Newey-West error (lags = h)
    widens the test, so an unskilled but persistent predictor is not flagged."""
    rng = np.random.default_rng(3)
    eps = rng.normal(0, 1, 2424)
    realized = np.convolve(eps, np.ones(24), "valid")[:2400]       # 24-bar forward sums: overlap
    noise = np.convolve(rng.normal(0, 1, 2424), np.ones(24), "valid")[:2400]   # persistent, unskilled
    e24 = edge_test(noise, realized, horizon=24)
    e1 = edge_test(noise, realized, horizon=1)
    assert e24.n == 2400 and e24.lags == 24
    assert abs(e24.t) < abs(e1.t)          # the overlap-corrected t is the smaller one
    assert not e24.has_edge
    e = edge_test(realized + rng.normal(0, 8, 2400), realized, horizon=24, n_tests=50)
    assert e.has_edge and e.p_adjusted < 1e-2
    with pytest.raises(ValueError, match="at least 10"):
        edge_test(noise[:5], realized[:5])
