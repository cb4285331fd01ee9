"""A graph network over the correlation graph of a universe, fitted on panel rows (ts, symbol)
like every panel model: ``fit(X, y, X_val, y_val)`` and ``predict(X)`` take exactly the rows the
panel walk-forward passes (:func:`models.training.panel_walkforward.fit_panel_fold`).

Nodes are symbols. An edge joins two symbols whose labels, over the training dates both have,
correlate at least ``threshold`` in absolute value (weight = that absolute correlation); a pair
sharing fewer than ``min_overlap`` training dates has no edge. Every node has a self loop.

Each date is one graph over the symbols present that date. A symbol absent on a date (not listed
yet, delisted, a gap in its bars) is a masked node: it neither sends nor receives messages, and
the symmetric normalisation ``D^-1/2 A D^-1/2`` is computed over the present nodes only, so no
date is dropped because one symbol lacks it. The node features of a date go through two graph
convolutions (``Â X W``, plain PyTorch) plus a per-node linear skip; the output is every present
node's expected return. A date's prediction reads only that date's rows and the graph fixed at fit
time. A symbol not seen in training is predicted with its self loop only (no edges).

Features are standardised with the training rows' mean and deviation; a missing value (NaN) then
reads the training mean (0). Rows whose label is NaN are left out of the loss.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from models.base import Forecaster
from pipelines.errors import ModelError

DEFAULTS = {"min_overlap": 60, "threshold": 0.3, "hidden": 32, "epochs": 200, "lr": 1e-2,
            "weight_decay": 1e-4, "seed": 0}
GRAPH_FILE = "graph.npz"


def correlation_graph(labels: pd.DataFrame, min_overlap: int, threshold: float) -> np.ndarray:
    """Edge weights (N, N) among the columns of ``labels`` (dates x symbols, NaN where a symbol
    has no row): pairwise correlation over the dates both columns have, kept where it is at
    least ``threshold`` in absolute value and the pair shares ``min_overlap`` dates; the diagonal
    (self loops) is 1. Pass training rows only."""
    corr = labels.astype("float64").corr(min_periods=max(2, int(min_overlap))).to_numpy()
    corr = np.nan_to_num(corr, nan=0.0)     # too few shared dates, or a constant column: no edge
    adj = np.where(np.abs(corr) >= threshold, np.abs(corr), 0.0)
    np.fill_diagonal(adj, 1.0)
    return adj


def propagate(adj: torch.Tensor, mask: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``Â_t h_t`` for every date t at once, ``Â_t`` the normalised adjacency among the nodes
    present at t. adj: (N, N) with self loops; mask: (T, N) in {0, 1}; h: (T, N, H). Masked nodes
    send nothing, receive nothing and count in no degree: their output rows are 0."""
    deg = mask * (mask @ adj.T)                               # (T, N): edges to present nodes
    dinv = torch.where(deg > 0, deg.clamp_min(1e-12).rsqrt(), torch.zeros_like(deg))
    return dinv.unsqueeze(-1) * (adj @ (dinv.unsqueeze(-1) * h))   # (T, N, H)


class _GCN(nn.Module):
    def __init__(self, n_feat: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(n_feat, hidden)
        self.w2 = nn.Linear(hidden, 1)
        self.skip = nn.Linear(n_feat, 1)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: (T, N, F), adj: (N, N), mask: (T, N)
        h = torch.relu(propagate(adj, mask, self.w1(x)))       # (T, N, H)
        return (propagate(adj, mask, self.w2(h)) + self.skip(x)).squeeze(-1)  # (T, N)


def _panel_index(X: pd.DataFrame) -> tuple[pd.Index, pd.Index]:
    """The ts and symbol level of panel rows, checked."""
    if not isinstance(X.index, pd.MultiIndex) or list(X.index.names) != ["ts", "symbol"]:
        raise ModelError("gnn is a panel model: it takes rows indexed (ts, symbol), as make_panel "
                         f"builds them (got index levels {list(X.index.names)}); use --panel")
    if X.index.has_duplicates:
        raise ModelError("gnn: the panel has duplicate (ts, symbol) rows")
    return X.index.get_level_values("ts"), X.index.get_level_values("symbol")


class GraphForecaster(Forecaster):
    name = "gnn"
    consumes = "panel"

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ModelError(f"gnn: unknown parameters {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        super().__init__(**params)

    @property
    def _p(self) -> dict[str, Any]:
        return {**DEFAULTS, **self.params}

    def _dense(self, X: pd.DataFrame, symbols: list[str]) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray,
                                                                     np.ndarray, np.ndarray]:
        """(dates, standardised features (T, N, F), mask (T, N), row date positions, row node positions)."""
        ts, sym = _panel_index(X)
        vals = X.to_numpy(dtype="float64")
        if np.isinf(vals).any():
            raise ModelError("gnn: features contain infinite values")
        dates = pd.DatetimeIndex(ts.unique()).sort_values()
        ti = dates.get_indexer(ts)
        ni = pd.Index(symbols).get_indexer(sym)
        z = np.nan_to_num((vals - self.mu_) / self.sd_, nan=0.0)
        dense = np.zeros((len(dates), len(symbols), vals.shape[1]))
        mask = np.zeros((len(dates), len(symbols)))
        dense[ti, ni] = z
        mask[ti, ni] = 1.0
        return dates, dense, mask, ti, ni

    def _fit(self, X: pd.DataFrame, y: pd.Series, X_val: pd.DataFrame | None, y_val: pd.Series | None) -> None:
        p = self._p
        ts, sym = _panel_index(X)
        if not y.index.equals(X.index):
            raise ModelError("gnn: y must be on the same (ts, symbol) rows as X")
        self.symbols_ = sorted(sym.unique())
        vals = X.to_numpy(dtype="float64")
        with warnings.catch_warnings():     # an all-NaN column: mean 0, deviation 1
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mu_ = np.nan_to_num(np.nanmean(vals, axis=0))
            sd = np.nan_to_num(np.nanstd(vals, axis=0))
        self.sd_ = np.where(sd > 0, sd, 1.0)
        dates, dense, mask, ti, ni = self._dense(X, self.symbols_)
        target = np.zeros(mask.shape)
        lab = y.to_numpy(dtype="float64")
        known = np.isfinite(lab)
        if not known.any():
            raise ModelError("gnn: no training row has a label")
        target[ti[known], ni[known]] = lab[known]
        loss_mask = np.zeros(mask.shape)
        loss_mask[ti[known], ni[known]] = 1.0
        wide = pd.DataFrame(np.where(loss_mask > 0, target, np.nan), index=dates, columns=self.symbols_)
        self.adj_ = correlation_graph(wide, p["min_overlap"], p["threshold"])
        self.y_scale_ = float(np.std(lab[known])) or 1.0
        self.n_rows_, self.n_dates_ = int(known.sum()), int(len(dates))

        torch.manual_seed(int(p["seed"]))
        self.net_ = _GCN(X.shape[1], int(p["hidden"]))
        x = torch.as_tensor(dense, dtype=torch.float32)
        m = torch.as_tensor(mask, dtype=torch.float32)
        lm = torch.as_tensor(loss_mask, dtype=torch.float32)
        t = torch.as_tensor(target / self.y_scale_, dtype=torch.float32)
        adj = torch.as_tensor(self.adj_, dtype=torch.float32)
        opt = torch.optim.Adam(self.net_.parameters(), lr=float(p["lr"]), weight_decay=float(p["weight_decay"]))
        n = lm.sum()
        for _ in range(int(p["epochs"])):
            opt.zero_grad()
            loss = (((self.net_(x, adj, m) - t) ** 2) * lm).sum() / n
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = self.net_(x, adj, m).numpy()
        resid = (out[ti[known], ni[known]] - target[ti[known], ni[known]] / self.y_scale_) * self.y_scale_
        self.resid_sd_ = float(resid.std()) + 1e-12

    def _predict(self, X: pd.DataFrame) -> pd.DataFrame:
        _, sym = _panel_index(X)
        new = sorted(set(sym.unique()) - set(self.symbols_))
        symbols = self.symbols_ + new
        adj = np.eye(len(symbols))                      # unseen symbols: self loop only
        adj[:len(self.symbols_), :len(self.symbols_)] = self.adj_
        _, dense, mask, ti, ni = self._dense(X, symbols)
        with torch.no_grad():
            out = self.net_(torch.as_tensor(dense, dtype=torch.float32),
                            torch.as_tensor(adj, dtype=torch.float32),
                            torch.as_tensor(mask, dtype=torch.float32)).numpy()
        er = out[ti, ni].astype("float64") * self.y_scale_
        prob = norm.cdf(er / self.resid_sd_)
        return pd.DataFrame({"expected_return": er, "prob_up": prob, "confidence": np.abs(2 * prob - 1)},
                            index=X.index)

    def _save_weights(self, path: Path) -> None:
        torch.save(self.net_.state_dict(), path / "weights.pt")
        np.savez(path / GRAPH_FILE, adj=self.adj_, mu=self.mu_, sd=self.sd_, symbols=np.array(self.symbols_),
                 y_scale=self.y_scale_, resid_sd=self.resid_sd_)

    def _load_weights(self, path: Path) -> None:
        g = np.load(path / GRAPH_FILE, allow_pickle=False)
        self.adj_, self.mu_, self.sd_ = g["adj"], g["mu"], g["sd"]
        self.symbols_ = [str(s) for s in g["symbols"]]
        self.y_scale_, self.resid_sd_ = float(g["y_scale"]), float(g["resid_sd"])
        self.net_ = _GCN(len(self.features_), int(self._p["hidden"]))
        self.net_.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
