"""Simple rules from predictions to target positions."""

from __future__ import annotations

import numpy as np
import pandas as pd


def long_short_flat(expected_return: pd.Series, threshold: float = 0.0,
                    allow_short: bool = True) -> pd.Series:
    """+1 when the expected return exceeds ``threshold``, -1 below ``-threshold`` (or 0 when
    shorting is off), else 0. NaN predictions mean flat."""
    pos = signal_positions(expected_return.to_numpy(dtype="float64"), threshold, allow_short)
    return pd.Series(pos, index=expected_return.index, name="position")


def signal_positions(er: np.ndarray, threshold: float = 0.0, allow_short: bool = True) -> np.ndarray:
    """:func:`long_short_flat` on an array."""
    pos = np.where(er > threshold, 1.0, np.where(er < -threshold, -1.0 if allow_short else 0.0, 0.0))
    pos[~np.isfinite(er)] = 0.0
    return pos
