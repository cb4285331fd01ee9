"""Statistics and signal processing: rolling skew/kurtosis, autocorrelation at several lags,
FFT dominant-cycle period and power, wavelet multi-resolution energy, Shannon and sample entropy,
Hurst exponent. Windowed transforms run on strided trailing windows, never per-row Python."""

from __future__ import annotations

import numba
import numpy as np
import pywt

from pipelines.features.kernels import (div, logret, ohlcv, per_window, roll_corr, roll_kurt, roll_mean,
                                        roll_skew, roll_std, roll_var, roll_sum, shift, spec)

MOMENT_PERIODS = (20, 60, 120)
AC_LAGS = (1, 2, 3, 5, 10)
AC_WINDOW = 50
FFT_WINDOWS = (64, 128)
WAVELET_WINDOW, WAVELET, WAVELET_LEVEL = 64, "db2", 3
SAMPEN_WINDOW, SAMPEN_M, SAMPEN_R = 40, 2, 0.2
HURST_WINDOW, HURST_SCALES = 128, (1, 2, 4, 8, 16)


def _ret(bars) -> np.ndarray:
    return logret(ohlcv(bars)[3])


def _moments(n: int):
    def fn(bars, ctx):
        r = _ret(bars)
        return {f"skew_{n}": roll_skew(r, n), f"kurt_{n}": roll_kurt(r, n)}
    return fn


def _autocorr(bars, ctx):
    r = _ret(bars)
    out = {f"autocorr_{k}_{AC_WINDOW}": roll_corr(r, shift(r, k), AC_WINDOW) for k in AC_LAGS}
    out["autocorr_1_200"] = roll_corr(r, shift(r, 1), 200)
    a = np.abs(r)
    out[f"abs_autocorr_1_{AC_WINDOW}"] = roll_corr(a, shift(a, 1), AC_WINDOW)
    return out


@numba.njit(cache=True)
def _spectral_peak(w, spec, t, h0, h1, floor, out):
    """Per window: remove the linear trend from the Hann-windowed spectrum (the DFT is linear,
    so DFT(hann * (x - a - b t)) = DFT(hann * x) - a DFT(hann) - b DFT(hann * t)), then the
    strongest bin above the mean and its share of the power. A window that is flat or exactly
    linear (nothing left after the trend, up to rounding) has no cycle (NaN)."""
    n = w.shape[1]
    tt = 0.0
    for j in range(n):
        tt += t[j] * t[j]
    for i in range(w.shape[0]):
        a = 0.0
        bt = 0.0
        for j in range(n):
            a += w[i, j]
            bt += w[i, j] * t[j]
        a /= n
        b = bt / tt
        best = -1.0
        kbest = 0
        total = 0.0
        for k in range(1, spec.shape[1]):
            z = spec[i, k] - a * h0[k] - b * h1[k]
            pk = z.real * z.real + z.imag * z.imag
            total += pk
            if pk > best:
                best = pk
                kbest = k
        if total > floor * (1.0 + abs(a)) ** 2:
            out[i, 0] = 1.0 / kbest
            out[i, 1] = best / total
        else:
            out[i, 0] = np.nan
            out[i, 1] = np.nan


def _fft(n: int):
    hann = np.hanning(n)
    t = np.arange(n) - (n - 1) / 2.0
    h0, h1 = np.fft.rfft(hann), np.fft.rfft(hann * t)
    floor = (1e-10 * n) ** 2  # power a window of rounding noise around a level |a| stays under

    def dominant(w: np.ndarray) -> np.ndarray:
        out = np.empty((len(w), 2))
        _spectral_peak(w, np.fft.rfft(w * hann, axis=1), t, h0, h1, floor, out)
        return out

    def fn(bars, ctx):
        lc = np.log(ohlcv(bars)[3])
        res = per_window(lc, n, dominant)
        return {f"fft_period_{n}": res[:, 0], f"fft_power_{n}": res[:, 1]}
    return fn


def _wavelet(bars, ctx):
    def energy(w: np.ndarray) -> np.ndarray:
        coeffs = pywt.wavedec(w, WAVELET, level=WAVELET_LEVEL, axis=1, mode="periodization")
        e = np.stack([(c * c).sum(axis=1) for c in coeffs], axis=1)  # (m, level + 1): A_L, D_L .. D_1
        tot = e.sum(axis=1, keepdims=True)
        return np.where(tot > 0, e / np.where(tot > 0, tot, 1.0), np.nan)

    r = _ret(bars)
    res = per_window(r, WAVELET_WINDOW, energy)
    names = [f"wavelet_energy_a{WAVELET_LEVEL}"] + [f"wavelet_energy_d{j}" for j in range(WAVELET_LEVEL, 0, -1)]
    return {name: res[:, i] for i, name in enumerate(names)}


def _shannon(bars, ctx):
    r = _ret(bars)
    z = div(r, roll_std(r, 50))
    out = {}
    states = [z < -1, (z >= -1) & (z < 0), (z >= 0) & (z < 1), z >= 1]
    valid = np.isfinite(z)
    for n in (20, 50):
        h = np.zeros(len(r))
        for s in states:
            p = roll_mean(np.where(valid, s, np.nan).astype("float64"), n)
            with np.errstate(divide="ignore", invalid="ignore"):
                h -= np.where(p > 0, p * np.log(p), 0.0)
        h[~np.isfinite(roll_mean(np.where(valid, 1.0, np.nan), n))] = np.nan
        out[f"entropy_shannon_{n}"] = h / np.log(len(states))
    up = np.where(np.isfinite(r), (r > 0).astype("float64"), np.nan)
    p = roll_mean(up, 20)
    with np.errstate(divide="ignore", invalid="ignore"):
        hb = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0))
    hb[np.isnan(p)] = np.nan
    out["entropy_updown_20"] = hb
    return out


@numba.njit(cache=True)
def _sampen_windows(x, n, m, rfac, out, chunk=4096):
    """Sample entropy of every trailing window of n values. A pair of templates starting at
    samples a and a + d is compared through |x[a + k] - x[a + d + k]|, which no window changes:
    those distances (and their running max over the m template points) are computed once per
    chunk of windows, and each window only counts the pairs inside it against its own r."""
    L = n - m
    N = len(x)
    for c0 in range(n - 1, N, chunk):
        c1 = min(N, c0 + chunk)
        base = c0 - n + 1              # first sample a window of this chunk reads
        span = c1 - base
        ad = np.zeros((L, span))       # ad[d, a] = |x[base+a] - x[base+a+d]|
        dm = np.zeros((L, span))       # max of ad[d, a .. a+m-1]: the m-point template distance
        for d in range(1, L):
            for a in range(span - d):
                ad[d, a] = abs(x[base + a] - x[base + a + d])
            for a in range(span - d - m + 1):
                v = ad[d, a]
                for k in range(1, m):
                    v = max(v, ad[d, a + k])
                dm[d, a] = v
        for end in range(c0, c1):
            s = end - n + 1
            w = x[s:end + 1]
            if np.isnan(w).any():
                continue
            sd = w.std()
            if sd == 0:
                continue
            r = rfac * sd
            b = 0
            a = 0
            o = s - base
            for d in range(1, L):      # templates i and i + d, both starting before n - m
                drow = dm[d]
                arow = ad[d]
                for i in range(o, o + L - d):  # branch-free, so the loop vectorises
                    b += drow[i] <= r
                    a += max(drow[i], arow[i + m]) <= r
            # Laplace-smoothed so a window without (m+1)-matches stays finite
            out[end] = -np.log((a + 1.0) / (b + 1.0))


def _sampen(bars, ctx):
    r = _ret(bars)
    out = np.full(len(r), np.nan)
    _sampen_windows(r, SAMPEN_WINDOW, SAMPEN_M, SAMPEN_R, out)
    return {f"entropy_sample_{SAMPEN_WINDOW}": out}


def _hurst(bars, ctx):
    """Aggregated-variance Hurst estimate: var of k-bar returns ~ k^(2H), regressed over k."""
    r = _ret(bars)
    n = HURST_WINDOW
    logk = np.log(np.asarray(HURST_SCALES, dtype="float64"))
    ys = []
    for k in HURST_SCALES:
        rk = roll_sum(r, k) if k > 1 else r
        ys.append(np.log(roll_var(rk, n - k + 1)))
    y = np.stack(ys, axis=1)
    xc = logk - logk.mean()
    slope = ((y - y.mean(axis=1, keepdims=True)) @ xc) / (xc @ xc)
    h = slope / 2.0
    return {f"hurst_{n}": h, "hurst_vr_ratio": div(roll_var(roll_sum(r, 8), n - 7), 8 * roll_var(r, n))}


def _features():
    out = [spec(f"moments_{n}", "stats", (f"skew_{n}", f"kurt_{n}"), n, _moments(n),
                description=f"skew and excess kurtosis of log returns over {n} bars")
           for n in MOMENT_PERIODS]
    out.append(spec("autocorr", "stats",
                    tuple(f"autocorr_{k}_{AC_WINDOW}" for k in AC_LAGS) + ("autocorr_1_200", f"abs_autocorr_1_{AC_WINDOW}"),
                    201, _autocorr,
                    description=f"rolling autocorrelation of returns at lags {AC_LAGS} ({AC_WINDOW} bars), "
                                "lag 1 over 200 bars, lag 1 of |returns|"))
    for n in FFT_WINDOWS:
        out.append(spec(f"fft_{n}", "stats", (f"fft_period_{n}", f"fft_power_{n}"), n - 1, _fft(n),
                        description=f"dominant cycle of the detrended log close over {n} bars: "
                                    "period / window and its share of spectral power"))
    out.append(spec("wavelet_energy", "stats",
                    (f"wavelet_energy_a{WAVELET_LEVEL}",) + tuple(f"wavelet_energy_d{j}" for j in range(WAVELET_LEVEL, 0, -1)),
                    WAVELET_WINDOW, _wavelet,
                    description=f"{WAVELET} wavelet energy share per level, returns over {WAVELET_WINDOW} bars"))
    out.append(spec("entropy_shannon", "stats", ("entropy_shannon_20", "entropy_shannon_50", "entropy_updown_20"),
                    99, _shannon, description="Shannon entropy of return states (z bins; up/down)"))
    out.append(spec("entropy_sample", "stats", (f"entropy_sample_{SAMPEN_WINDOW}",), SAMPEN_WINDOW, _sampen,
                    description=f"sample entropy (m={SAMPEN_M}, r={SAMPEN_R} sd, match counts +1) of returns over {SAMPEN_WINDOW} bars"))
    out.append(spec("hurst", "stats", (f"hurst_{HURST_WINDOW}", "hurst_vr_ratio"), HURST_WINDOW + 1, _hurst,
                    description="Hurst exponent by aggregated variance; variance ratio(8)"))
    return tuple(out)


FEATURES = _features()
