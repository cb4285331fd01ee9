"""Columns the feature store keeps as a reference instead of values: lagged copies of another
column (``ret_lag_7`` is ``ret_lag_1`` six rows later; ``rsi_14_lag_5`` is ``rsi_14`` five rows
later). About a fifth of the full set's columns are such copies, and float noise does
not compress, so storing each once saves that fifth of the bytes.

A column ``c`` is a shift of ``src`` by ``k`` rows over a frame when ``c[t] == src[t - k]`` for
every ``t >= k`` and ``c[t]`` is NaN for ``t < k``, compared exactly (NaN equal to NaN) in the
store's dtype. Candidates come from the ``<base>_lag_<k>`` names; every candidate is checked on the
values, so a name never makes the store return a value it was not given."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

LAG = re.compile(r"^(?P<base>.+)_lag_(?P<k>\d+)$")


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(((a == b) | (np.isnan(a) & np.isnan(b))).all())


def shifted(src: np.ndarray, k: int) -> np.ndarray:
    """``src`` moved ``k`` rows later, NaN in the first ``k`` rows."""
    out = np.full(len(src), np.nan, dtype=src.dtype)
    if k < len(src):
        out[k:] = src[:len(src) - k]
    return out


def find_shifts(frame: pd.DataFrame, dtype: str) -> dict[str, tuple[str, int]]:
    """{column: (source column, rows)} for every ``<base>_lag_<k>`` column that is an exact shift
    of ``<base>`` (or of the group's smallest lag when ``<base>`` is not a column)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for c in frame.columns:
        m = LAG.match(str(c))
        if m:
            groups.setdefault(m["base"], []).append((int(m["k"]), str(c)))
    out: dict[str, tuple[str, int]] = {}
    for base, lags in groups.items():
        lags.sort()
        src, k0 = (base, 0) if base in frame.columns else (lags[0][1], lags[0][0])
        a = frame[src].to_numpy(dtype=dtype)
        for k, c in lags:
            if c != src and k > k0 and _equal(frame[c].to_numpy(dtype=dtype), shifted(a, k - k0)):
                out[c] = (src, k - k0)
    return out


def shifts_continue(before: pd.DataFrame, rows: pd.DataFrame, shifts: dict[str, tuple[str, int]],
                    dtype: str) -> bool:
    """Whether ``rows`` appended after a frame ending with ``before`` (at least the sources' last
    rows) keep every shift exact."""
    for c, (src, k) in shifts.items():
        a = np.concatenate([before[src].to_numpy(dtype=dtype)[-k:] if k else np.empty(0, dtype=dtype),
                            rows[src].to_numpy(dtype=dtype)])
        if len(a) < k + len(rows) or not _equal(rows[c].to_numpy(dtype=dtype), a[:len(rows)]):
            return False
    return True
