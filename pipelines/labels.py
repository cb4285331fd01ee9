"""Labels: forward returns over a horizon. Separate from features, always with horizon > 0.

The label at bar t is log(close[t+h] / close[t]); it becomes known at ``known_at[t+h]``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class ForwardReturn:
    horizon: int

    def __post_init__(self) -> None:
        if self.horizon <= 0:
            raise ValueError("a label's horizon must be > 0 bars")

    @property
    def name(self) -> str:
        return f"fwd_ret_{self.horizon}"

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        """Indexed by ts: the label and when it becomes known (NaN/NaT for the last h bars)."""
        close = bars["close"].to_numpy(dtype="float64")
        fwd = np.full(len(close), np.nan)
        if len(close) > self.horizon:
            fwd[:-self.horizon] = np.log(close[self.horizon:] / close[:-self.horizon])
        known = bars["known_at"].shift(-self.horizon)
        return pd.DataFrame({self.name: fwd, "label_known_at": known.to_numpy()},
                            index=pd.DatetimeIndex(bars["ts"], name="ts"))
