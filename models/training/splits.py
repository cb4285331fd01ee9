"""Walk-forward splits by time only.

For a test window starting at row s, the training rows end at ``s - purge - embargo``: the label
of a training row t spans (t, t+h], so with ``purge >= h`` no training label reaches into the
test window, and ``embargo`` adds bars against serial dependence across the boundary. The
validation slice (for early stopping) is the tail of the training window, separated from the
fitting rows by the same purge. Test windows tile the data; each fold retrains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    index: int
    fit: np.ndarray       # rows the model fits on
    val: np.ndarray       # rows for early stopping (may be empty)
    test: np.ndarray      # out-of-sample rows

    @property
    def train(self) -> np.ndarray:
        return np.concatenate([self.fit, self.val])


def walk_forward_splits(n: int, *, horizon: int, train_bars: int, test_bars: int,
                        purge_bars: int | None = None, embargo_bars: int = 0,
                        expanding: bool = False, validation_fraction: float = 0.0,
                        min_train_bars: int | None = None) -> list[Fold]:
    """Folds over ``n`` time-ordered rows. Raises when not one fold fits."""
    purge = horizon if purge_bars is None else purge_bars
    if purge < horizon:
        raise ValueError(f"purge ({purge}) must be at least the label horizon ({horizon})")
    gap = purge + embargo_bars
    min_train = min_train_bars or max(20, train_bars // 2 if not expanding else 20)
    folds: list[Fold] = []
    start = train_bars + gap
    while start < n:
        stop = min(start + test_bars, n)
        train_end = start - gap
        train_start = 0 if expanding else max(0, train_end - train_bars)
        rows = np.arange(train_start, train_end)
        if len(rows) >= min_train:
            n_val = int(len(rows) * validation_fraction)
            if n_val > 0 and len(rows) - n_val - purge > 0:
                val = rows[-n_val:]
                fit = rows[: len(rows) - n_val - purge]
            else:
                val, fit = rows[:0], rows
            folds.append(Fold(len(folds), fit, val, np.arange(start, stop)))
        start = stop
    if not folds:
        raise ValueError(f"no walk-forward fold fits in {n} rows with train={train_bars}, "
                         f"test={test_bars}, purge={purge}, embargo={embargo_bars}")
    return folds
