"""GARCH(1,1) with a constant mean and normal errors, fitted by maximum likelihood in compiled
code: the model, likelihood, backcast and starting grid of ``arch.arch_model(x, mean="Constant",
vol="GARCH", p=1, q=1, dist="normal", rescale=False)``, with an analytic gradient and BFGS over
an unconstrained reparametrisation that keeps omega > 0, alpha, beta >= 0 and alpha + beta < 1.

arch's own fit (SLSQP with finite-difference gradients) takes ~15-25 ms per 1,000-return window;
this one ~0.7 ms, so the feature's 200 refits on 200k bars cost 0.16 s instead of 4.5 s. The two agree to the
optimiser's tolerance (``tests/features/test_garch_fit.py`` compares likelihoods, parameters and
the filtered variance against arch on simulated, real and boundary cases)."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import chdtrc

_LOG2PI = float(np.log(2.0 * np.pi))
_SMAX = 1.0 - 1e-6  # alpha + beta stays below this


@dataclass(frozen=True)
class GarchFit:
    mu: float
    omega: float
    alpha: float
    beta: float
    loglik: float
    sigma2_last: float    # conditional variance of the last return in the window
    lm_stat: float        # ARCH LM statistic on the standardised residuals
    lm_pval: float
    nobs: int
    iterations: int


@numba.njit(cache=True)
def _backcast(e):
    tau = min(75, len(e))
    num = 0.0
    den = 0.0
    w = 1.0
    for i in range(tau):
        num += w * e[i] * e[i]
        den += w
        w *= 0.94
    return num / den


@numba.njit(cache=True)
def _nll_grad(x, mu, omega, alpha, beta, bc, grad):
    """Mean negative log-likelihood and its gradient in (mu, omega, alpha, beta)."""
    n = len(x)
    s2 = omega + (alpha + beta) * bc
    d_mu = 0.0
    d_om = 1.0
    d_al = bc
    d_be = bc
    f = 0.0
    g0 = 0.0
    g1 = 0.0
    g2 = 0.0
    g3 = 0.0
    e_prev = 0.0
    for t in range(n):
        if t > 0:
            d_mu = -2.0 * alpha * e_prev + beta * d_mu
            d_om = 1.0 + beta * d_om
            d_al = e_prev * e_prev + beta * d_al
            d_be = s2 + beta * d_be
            s2 = omega + alpha * e_prev * e_prev + beta * s2
        if s2 < 1e-300:
            return np.inf
        e = x[t] - mu
        inv = 1.0 / s2
        f += np.log(s2) + e * e * inv
        c = inv - e * e * inv * inv  # d(log s2 + e^2/s2)/d s2
        g0 += c * d_mu - 2.0 * e * inv
        g1 += c * d_om
        g2 += c * d_al
        g3 += c * d_be
        e_prev = e
    k = 0.5 / n
    grad[0] = g0 * k
    grad[1] = g1 * k
    grad[2] = g2 * k
    grad[3] = g3 * k
    return 0.5 * (f / n + _LOG2PI)


@numba.njit(cache=True)
def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + np.exp(-z))
    ez = np.exp(z)
    return ez / (1.0 + ez)


@numba.njit(cache=True)
def _natural(th, out):
    """theta = (mu, log omega, logit of (alpha+beta)/SMAX, logit of alpha/(alpha+beta))."""
    s = _SMAX * _sigmoid(th[2])
    w = _sigmoid(th[3])
    out[0] = th[0]
    out[1] = np.exp(th[1])
    out[2] = s * w
    out[3] = s * (1.0 - w)


@numba.njit(cache=True)
def _objective(x, th, bc, nat, gn, g):
    _natural(th, nat)
    f = _nll_grad(x, nat[0], nat[1], nat[2], nat[3], bc, gn)
    if not np.isfinite(f):
        return np.inf
    sg = _sigmoid(th[2])
    s = _SMAX * sg
    w = _sigmoid(th[3])
    ds = _SMAX * sg * (1.0 - sg)
    dw = w * (1.0 - w)
    g[0] = gn[0]
    g[1] = gn[1] * nat[1]
    g[2] = gn[2] * ds * w + gn[3] * ds * (1.0 - w)
    g[3] = (gn[2] - gn[3]) * s * dw
    return f


@numba.njit(cache=True)
def _bfgs(x, th, bc, max_iter, gtol):
    k = len(th)
    nat = np.empty(k)
    gn = np.empty(k)
    g = np.empty(k)
    g_new = np.empty(k)
    th_new = np.empty(k)
    f = _objective(x, th, bc, nat, gn, g)
    h = np.eye(k)
    it = 0
    for it in range(1, max_iter + 1):
        if np.max(np.abs(g)) < gtol:
            break
        p = -(h @ g)
        slope = p @ g
        if slope >= 0:  # not a descent direction: restart from steepest descent
            h = np.eye(k)
            p = -g.copy()
            slope = p @ g
        step = 1.0
        f_new = np.inf
        for _ in range(60):
            for i in range(k):
                th_new[i] = th[i] + step * p[i]
            f_new = _objective(x, th_new, bc, nat, gn, g_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        if not f_new <= f + 1e-4 * step * slope:
            break  # no progress along the search direction: at the optimum to machine precision
        s_vec = th_new - th
        y_vec = g_new - g
        sy = s_vec @ y_vec
        if sy > 1e-12:
            if it == 1:
                h = np.eye(k) * (sy / (y_vec @ y_vec))
            hy = h @ y_vec
            rho = 1.0 / sy
            h = h + ((sy + y_vec @ hy) * rho * rho) * np.outer(s_vec, s_vec) \
                - rho * (np.outer(hy, s_vec) + np.outer(s_vec, hy))
        done = abs(f - f_new) <= 1e-15 * max(1.0, abs(f))
        th[:] = th_new
        g[:] = g_new
        f = f_new
        if done:
            break
    return f, it


@numba.njit(cache=True)
def _start(x, bc):
    """arch's starting values: mean of x, then the best of its (alpha, persistence) grid."""
    mu = x.mean()
    e = x - mu
    target = (e * e).mean()
    best = np.inf
    sv = np.array([mu, target * 0.1, 0.05, 0.85])
    grad = np.empty(4)
    for alpha in (0.01, 0.05, 0.1, 0.2):
        for agb in (0.5, 0.7, 0.9, 0.98):
            omega = (1.0 - agb) * target
            beta = agb - alpha
            if beta < 0:
                continue
            f = _nll_grad(x, mu, omega, alpha, beta, bc, grad)
            if f < best:
                best = f
                sv[1] = omega
                sv[2] = alpha
                sv[3] = beta
    return sv


@numba.njit(cache=True)
def _variance_path(x, mu, omega, alpha, beta, bc, out):
    s2 = omega + (alpha + beta) * bc
    for t in range(len(x)):
        if t > 0:
            e = x[t - 1] - mu
            s2 = omega + alpha * e * e + beta * s2
        out[t] = s2


def _lm(z2: np.ndarray, lags: int) -> float:
    """arch's ``arch_lm_test``: nobs * R^2 of z2_t on a constant and z2_{t-1..t-lags}."""
    n = len(z2)
    y = z2[lags:]
    cols = [np.ones(n - lags)] + [z2[lags - j:n - j] for j in range(1, lags + 1)]
    xm = np.column_stack(cols)
    beta, *_ = np.linalg.lstsq(xm, y, rcond=None)
    resid = y - xm @ beta
    yc = y - y.mean()
    tss = yc @ yc
    return float(n * (1.0 - (resid @ resid) / tss)) if tss > 0 else float("nan")


def fit_garch11(x: np.ndarray, lm_lags: int = 5, max_iter: int = 200, gtol: float = 1e-9) -> GarchFit:
    """Fit GARCH(1,1) to ``x`` (finite values, ideally in percent units as arch prefers)."""
    x = np.ascontiguousarray(x, dtype="float64")
    if len(x) < 10 or not np.isfinite(x).all():
        raise ValueError("fit_garch11 needs at least 10 finite observations")
    if not x.var() > 1e-12 * max(1.0, float(np.abs(x).max())) ** 2:
        raise ValueError("fit_garch11 needs returns that vary (this window is constant)")
    bc = _backcast(x - x.mean())
    sv = _start(x, bc)
    s = min(max((sv[2] + sv[3]) / _SMAX, 1e-9), 1 - 1e-9)
    w = min(max(sv[2] / (sv[2] + sv[3]), 1e-9), 1 - 1e-9)
    th = np.array([sv[0], np.log(sv[1]), np.log(s / (1 - s)), np.log(w / (1 - w))])
    f, iters = _bfgs(x, th, bc, max_iter, gtol)
    nat = np.empty(4)
    _natural(th, nat)
    mu, omega, alpha, beta = (float(v) for v in nat)
    n = len(x)
    s2 = np.empty(n)
    _variance_path(x, mu, omega, alpha, beta, bc, s2)
    z2 = (x - mu) ** 2 / s2
    lags = max(min(n // 2 - 1, lm_lags), 1)
    stat = _lm(z2, lags)
    return GarchFit(mu, omega, alpha, beta, float(-f * n), float(s2[-1]), stat,
                    float(chdtrc(lags, stat)) if np.isfinite(stat) else float("nan"), n, int(iters))
