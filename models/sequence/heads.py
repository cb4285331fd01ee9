"""The multi-task head every sequence model shares, its targets and its loss.

Tasks: the return over each horizon in ``horizons`` (the first is the label handed to ``fit``;
later ones are sums of consecutive non-overlapping labels, so they need log returns, which the
labels are) and the direction of the first. The longer-horizon targets come from the ``y`` given
to ``fit`` only: a row whose longer return would need a label past the end of that slice gets
NaN and is left out of that task's loss. Returns are point forecasts (MSE) or, with
``quantiles``, quantile forecasts (pinball loss) whose middle quantile is the point forecast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipelines.errors import ModelError


@dataclass(frozen=True)
class HeadConfig:
    in_dim: int
    n_horizons: int = 2          # returns at the label horizon and at each longer one
    quantiles: tuple[float, ...] = ()   # () = point forecast

    @property
    def n_q(self) -> int:
        return max(1, len(self.quantiles))


def multi_horizon_targets(y: np.ndarray, label_horizon: int, horizons: tuple[int, ...]) -> np.ndarray:
    """(N,) labels -> (N, len(horizons) + 1): returns per horizon, then direction (1/0, NaN)."""
    y = np.asarray(y, dtype="float64")
    n = len(y)
    cols = []
    for h in horizons:
        if h % label_horizon:
            raise ModelError(f"horizon {h} is not a multiple of the label horizon {label_horizon}")
        steps = h // label_horizon
        out = np.full(n, np.nan)
        for t in range(n):
            idx = t + label_horizon * np.arange(steps)
            if idx[-1] < n:
                out[t] = y[idx].sum()
        cols.append(out)
    direction = np.where(np.isfinite(y), (y > 0).astype("float64"), np.nan)
    return np.column_stack(cols + [direction])


class MultiTaskHead(nn.Module):
    """(B, D) -> returns (B, H, Q) and a direction logit (B,)."""

    def __init__(self, cfg: HeadConfig):
        super().__init__()
        self.cfg = cfg
        self.ret = nn.Linear(cfg.in_dim, cfg.n_horizons * cfg.n_q)
        self.direction = nn.Linear(cfg.in_dim, 1)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert h.dim() == 2 and h.shape[1] == self.cfg.in_dim, h.shape
        r = self.ret(h).view(h.shape[0], self.cfg.n_horizons, self.cfg.n_q)   # (B, H, Q)
        return r, self.direction(h).squeeze(-1)                                  # (B,)


def point(r: torch.Tensor, quantiles: tuple[float, ...]) -> torch.Tensor:
    """(B, H, Q) -> (B, H): the single output, or the quantile nearest the median."""
    if not quantiles:
        return r[..., 0]
    mid = int(np.argmin([abs(q - 0.5) for q in quantiles]))
    return r[..., mid]


def multitask_loss(r: torch.Tensor, logit: torch.Tensor, tgt: torch.Tensor, *,
                   quantiles: tuple[float, ...], aux_weight: float, dir_weight: float) -> torch.Tensor:
    """Return loss on the label horizon + ``aux_weight`` x the longer horizons + ``dir_weight`` x BCE.
    ``tgt`` (B, H + 1) in scaled return units, NaN where unknown."""
    r, logit, tgt = r.float(), logit.float(), tgt.float()
    n_h = r.shape[1]
    total = r.new_zeros(())
    for k in range(n_h):
        y = tgt[:, k]
        ok = torch.isfinite(y)
        if not ok.any():
            continue
        pred = r[ok, k, :]                                   # (b, Q)
        yk = y[ok]
        if quantiles:
            q = torch.tensor(quantiles, device=r.device, dtype=r.dtype)
            e = yk[:, None] - pred
            lk = torch.maximum(q * e, (q - 1) * e).mean()
        else:
            lk = F.mse_loss(pred[:, 0], yk)
        total = total + (lk if k == 0 else aux_weight * lk / max(1, n_h - 1))
    d = tgt[:, n_h]
    ok = torch.isfinite(d)
    if ok.any():
        total = total + dir_weight * F.binary_cross_entropy_with_logits(logit[ok], d[ok])
    return total
