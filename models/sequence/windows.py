"""Sliding windows over one feature tensor, and the normaliser fitted on the training slice.

The window for row ``t`` covers feature rows ``[t - window + 1 .. t]``: nothing after ``t``.
Rows with less history than a window are left-padded with zeros (the training mean once
normalised). No window is copied out of the history: the padded frame is one tensor and every
sample is a view into it (``Tensor.unfold``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from pipelines.errors import ModelError

CLIP = 10.0   # standardised values beyond this many deviations are clipped


@dataclass
class Normaliser:
    """Per-column mean and deviation of the training rows; NaN and inf become the mean."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: pd.DataFrame) -> "Normaliser":
        a = _finite(X)
        with np.errstate(all="ignore"):
            mean = np.nanmean(a, axis=0)
            std = np.nanstd(a, axis=0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 1e-12), std, 1.0)
        return cls(mean=mean.astype("float64"), std=std.astype("float64"))

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        a = _finite(X)
        if a.shape[1] != len(self.mean):
            raise ModelError(f"normaliser fitted on {len(self.mean)} columns, got {a.shape[1]}")
        z = (a - self.mean) / self.std
        z = np.nan_to_num(z, nan=0.0)
        return np.clip(z, -CLIP, CLIP).astype("float32")

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, s: dict) -> "Normaliser":
        return cls(mean=np.asarray(s["mean"], dtype="float64"), std=np.asarray(s["std"], dtype="float64"))


def _finite(X: pd.DataFrame) -> np.ndarray:
    a = np.array(X.to_numpy(dtype="float64", na_value=np.nan), dtype="float64", copy=True)
    a[~np.isfinite(a)] = np.nan
    return a


def padded(z: np.ndarray, window: int) -> torch.Tensor:
    """(N, F) -> (N + window - 1, F): ``window - 1`` zero rows ahead of the first."""
    if window < 1:
        raise ModelError(f"window must be >= 1, got {window}")
    pad = np.zeros((window - 1, z.shape[1]), dtype="float32")
    return torch.from_numpy(np.concatenate([pad, z], axis=0))


def window_view(xp: torch.Tensor, window: int) -> torch.Tensor:
    """All windows of a padded tensor as one view: (N, window, F); row t = rows t-window+1..t."""
    # xp: (N + W - 1, F) -> unfold -> (N, F, W) -> (N, W, F), sharing xp's storage
    return xp.unfold(0, window, 1).transpose(1, 2)


class WindowDataset(Dataset):
    """Samples ``(window (W, F), targets (K,))`` for the rows in ``rows``; the windows index into
    one padded tensor, so memory is that tensor plus the targets."""

    def __init__(self, z: np.ndarray, targets: np.ndarray, window: int, rows: np.ndarray | None = None):
        if len(z) != len(targets):
            raise ModelError(f"{len(z)} feature rows but {len(targets)} target rows")
        self.window = int(window)
        self.xp = padded(z, self.window)                        # (N + W - 1, F)
        self.targets = torch.from_numpy(np.asarray(targets, dtype="float32"))  # (N, K)
        self.rows = np.arange(len(z)) if rows is None else np.asarray(rows, dtype="int64")

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        t = int(self.rows[i])
        return self.xp[t:t + self.window], self.targets[t]      # (W, F), (K,)
