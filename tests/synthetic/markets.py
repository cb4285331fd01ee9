"""A market simulator for tests and demos, with the best achievable directional accuracy known.

- :func:`random_walk`: i.i.d. Gaussian log returns. No predictor can beat 50% out of sample;
  any edge a pipeline reports on it is leakage.
- :func:`ar1`: log returns ``r_t = phi * r_{t-1} + e_t``. For a horizon of h bars the best
  predictor of ``R = r_{t+1} + ... + r_{t+h}`` given everything up to t is a multiple of
  ``r_t`` (the process is Markov), and for jointly Gaussian (X, R) with correlation rho,
  ``P(sign X = sign R) = 1/2 + arcsin(rho) / pi``.
- :func:`regime_switching`: a hidden two-state Markov chain switches between a trending state
  (phi > 0, calm) and a mean-reverting state (phi < 0, volatile). The best accuracy for h = 1
  given the past is that of the Bayes-optimal predictor, which knows the true parameters and
  filters the hidden state from past returns (Hamilton filter): its expected accuracy is the
  mean over bars of max(q_t, 1 - q_t), q_t = P(r_{t+1} > 0 | r_1..r_t). The oracle that *sees*
  the state does better (``oracle_state_accuracy``) but no pipeline can.

Each returns a :class:`Simulated` with canonical bars (``pipelines.schema.BARS``), the
returns, and ``best_accuracy`` for the horizon asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipelines.validation import validate_bars


@dataclass
class Simulated:
    bars: pd.DataFrame
    returns: np.ndarray          # log return of bar i (close[i-1] -> close[i]); returns[0] = 0
    best_accuracy: float         # best achievable out-of-sample directional accuracy
    horizon: int
    description: str
    states: np.ndarray | None = field(default=None)


def sign_accuracy(rho: float) -> float:
    """P(sign X == sign Y) for jointly Gaussian, zero-mean X, Y with correlation ``rho``."""
    return 0.5 + math.asin(max(-1.0, min(1.0, rho))) / math.pi


def ar1_best_accuracy(phi: float, horizon: int = 1) -> float:
    """Best directional accuracy for the h-bar return of a stationary AR(1) given the past."""
    if not -1 < phi < 1:
        raise ValueError("AR(1) needs |phi| < 1 to be stationary")
    if phi == 0:
        return 0.5
    # with var(r) = 1: cov(r_t, r_{t+k}) = phi^k
    cov = sum(phi ** k for k in range(1, horizon + 1))
    var_sum = horizon + 2 * sum((horizon - k) * phi ** k for k in range(1, horizon))
    return sign_accuracy(abs(cov) / math.sqrt(var_sum))


def bars_from_returns(returns: np.ndarray, *, symbol: str, timeframe: str = "1h",
                      asset_class: str = "crypto", start: str = "2020-01-01",
                      seed: int = 0, price0: float = 100.0) -> pd.DataFrame:
    """Canonical OHLCV bars whose close-to-close log returns are ``returns[1:]``; the open
    is the previous close, high/low widen by a little noise that carries no information."""
    rng = np.random.default_rng(seed + 7919)
    close = price0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[price0], close[:-1]])
    wiggle = np.abs(rng.normal(0, np.std(returns) * 0.5 + 1e-6, (2, len(close))))
    high = np.maximum(open_, close) * np.exp(wiggle[0])
    low = np.minimum(open_, close) * np.exp(-wiggle[1])
    volume = rng.lognormal(10, 0.3, len(close))
    ts = pd.date_range(start, periods=len(close), freq=pd.Timedelta(timeframe) if timeframe[-1] in "hm"
                       else "D", tz="UTC")
    df = pd.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close,
                       "volume": volume})
    bars, _ = validate_bars(df, symbol=symbol, asset_class=asset_class, timeframe=timeframe,
                            venue="simulated", tz="UTC", what=f"simulated {symbol}")
    return bars


def random_walk(n: int, *, sigma: float = 0.01, seed: int = 0, symbol: str = "RW",
                timeframe: str = "1h", horizon: int = 1) -> Simulated:
    rng = np.random.default_rng(seed)
    r = np.concatenate([[0.0], rng.normal(0.0, sigma, n - 1)])
    return Simulated(bars_from_returns(r, symbol=symbol, timeframe=timeframe, seed=seed), r, 0.5,
                     horizon, f"random walk, sigma={sigma}")


def ar1(n: int, *, phi: float = 0.3, sigma: float = 0.01, seed: int = 0, symbol: str = "AR1",
        timeframe: str = "1h", horizon: int = 1) -> Simulated:
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, sigma * math.sqrt(1 - phi ** 2), n)
    r = np.empty(n)
    r[0] = rng.normal(0.0, sigma)
    for t in range(1, n):
        r[t] = phi * r[t - 1] + e[t]
    r[0] = 0.0
    return Simulated(bars_from_returns(r, symbol=symbol, timeframe=timeframe, seed=seed), r,
                     ar1_best_accuracy(phi, horizon), horizon, f"AR(1), phi={phi}, sigma={sigma}")


def regime_switching(n: int, *, phis: tuple[float, float] = (0.4, -0.4),
                     sigmas: tuple[float, float] = (0.006, 0.015), stay: float = 0.98,
                     seed: int = 0, symbol: str = "RS", timeframe: str = "1h") -> Simulated:
    """Two hidden states with AR coefficients ``phis`` and volatilities ``sigmas``; each state
    persists with probability ``stay`` per bar. ``best_accuracy`` (h = 1) is the state-aware
    oracle's: sum over states of P(state) * (1/2 + arcsin(|phi_s|) / pi), where the previous
    return is drawn from the state's own stationary law (exact up to the switching bars)."""
    rng = np.random.default_rng(seed)
    states = np.empty(n, dtype=int)
    states[0] = 0
    switch = rng.random(n) > stay
    for t in range(1, n):
        states[t] = 1 - states[t - 1] if switch[t] else states[t - 1]
    r = np.zeros(n)
    for t in range(1, n):
        s = states[t]
        phi, sig = phis[s], sigmas[s]
        r[t] = phi * r[t - 1] + rng.normal(0.0, sig * math.sqrt(1 - phi ** 2))
    q = hamilton_up_probability(r, phis, sigmas, stay)
    best = float(np.mean(np.maximum(q[1:-1], 1 - q[1:-1])))
    return Simulated(bars_from_returns(r, symbol=symbol, timeframe=timeframe, seed=seed), r, best, 1,
                     f"regime switching, phis={phis}, sigmas={sigmas}, stay={stay}", states)


def oracle_state_accuracy(phis: tuple[float, float]) -> float:
    """Accuracy of a predictor that sees the hidden state (an upper bound nobody reaches)."""
    return 0.5 * sign_accuracy(abs(phis[0])) + 0.5 * sign_accuracy(abs(phis[1]))


def hamilton_up_probability(r: np.ndarray, phis: tuple[float, float], sigmas: tuple[float, float],
                            stay: float) -> np.ndarray:
    """q[t] = P(r[t+1] > 0 | r[0..t]) under the true switching model (q[-1] is for the bar
    after the last)."""
    from scipy.stats import norm
    phi, sig = np.asarray(phis), np.asarray(sigmas)
    innov = sig * np.sqrt(1 - phi ** 2)
    P = np.array([[stay, 1 - stay], [1 - stay, stay]])
    belief = np.array([1.0, 0.0])            # the chain starts in state 0
    q = np.empty(len(r))
    for t in range(len(r)):
        if t > 0:
            prior = P.T @ belief
            like = norm.pdf(r[t], loc=phi * r[t - 1], scale=innov)
            post = prior * like
            belief = post / post.sum() if post.sum() > 0 else prior
        nxt = P.T @ belief
        q[t] = float(np.sum(nxt * norm.cdf(phi * r[t] / innov)))
    return q


def oracle_accuracy(sim: Simulated, phis: tuple[float, ...] | None = None, phi: float | None = None) -> float:
    """The realised accuracy of the true model on this path (h = 1): predict sign(phi_s * r_t)."""
    r = sim.returns
    coef = (np.asarray(phis)[sim.states] if sim.states is not None and phis is not None
            else np.full(len(r), phi if phi is not None else 0.0))
    pred = coef[1:] * r[:-1]
    real = r[1:]
    ok = (pred != 0) & (real != 0)
    return float(np.mean(np.sign(pred[ok]) == np.sign(real[ok])))
