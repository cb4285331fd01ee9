"""A graph network over the correlation graph of a universe, predicting the next-period return
of every symbol jointly.

Nodes are symbols; edges join symbols whose rolling return correlation, averaged over the
training rows only, is at least ``threshold`` in absolute value (weights = that correlation's
absolute value, with self loops, symmetrically normalised). At each timestamp the node features
go through two graph convolutions (``Â X W``, plain PyTorch) plus a per-node linear skip, and the
output is every node's expected return. Rows are independent timestamps: the prediction at t
reads only the features of row t and the graph fixed at fit time.

It takes a panel (a dict of per-symbol frames on shared timestamps), so it is not a single-symbol
:class:`models.base.Forecaster` and stays out of the zoo's tabular registry; it keeps the same
prediction columns and a self-describing save folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from models.base import PREDICTION_COLUMNS, NotFittedError
from pipelines.errors import ModelError
from pipelines.features.catalog import feature_hash

DEFAULTS = {"corr_window": 60, "threshold": 0.3, "hidden": 32, "epochs": 200, "lr": 1e-2,
            "weight_decay": 1e-4, "seed": 0}


def correlation_graph(returns: pd.DataFrame, window: int, threshold: float) -> np.ndarray:
    """Normalised adjacency (N, N) from the mean of rolling ``window``-row correlations of the
    columns of ``returns`` (pass training rows only)."""
    if len(returns) < window:
        raise ModelError(f"correlation graph needs at least {window} rows, got {len(returns)}")
    n = returns.shape[1]
    r = returns.to_numpy(dtype="float64")
    mats = []
    for end in range(window, len(r) + 1, max(1, window // 4)):
        c = np.corrcoef(r[end - window:end].T)
        mats.append(np.nan_to_num(c, nan=0.0))
    corr = np.mean(mats, axis=0)
    adj = np.where(np.abs(corr) >= threshold, np.abs(corr), 0.0)
    np.fill_diagonal(adj, 1.0)
    d = 1.0 / np.sqrt(adj.sum(1))
    return (adj * d[:, None] * d[None, :]).reshape(n, n)


class _GCN(nn.Module):
    def __init__(self, n_feat: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(n_feat, hidden)
        self.w2 = nn.Linear(hidden, 1)
        self.skip = nn.Linear(n_feat, 1)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:  # x: (T, N, F)
        h = torch.relu(adj @ self.w1(x))
        return (adj @ self.w2(h) + self.skip(x)).squeeze(-1)  # (T, N)


class GraphForecaster:
    name = "gnn"

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ModelError(f"gnn: unknown parameters {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        self.params = {**DEFAULTS, **params}

    def _stack(self, X: dict[str, pd.DataFrame]) -> tuple[pd.Index, np.ndarray]:
        missing = [s for s in self.symbols_ if s not in X]
        if missing:
            raise ModelError(f"gnn: panel lacks symbols {missing}")
        idx = X[self.symbols_[0]].index
        for s in self.symbols_:
            if list(X[s].columns) != self.features_:
                raise ModelError(f"gnn: {s} features differ from training "
                                 f"({feature_hash(list(X[s].columns))} != {feature_hash(self.features_)})")
            idx = idx.intersection(X[s].index)
        arr = np.stack([X[s].loc[idx].to_numpy(dtype="float64") for s in self.symbols_], axis=1)
        if not np.all(np.isfinite(arr)):
            raise ModelError("gnn: features contain NaN or infinite values")
        return idx, arr

    def fit(self, X: dict[str, pd.DataFrame], y: dict[str, pd.Series]) -> "GraphForecaster":
        """``X``: symbol -> features (rows = timestamps); ``y``: symbol -> next-period return on
        the same rows. Only the rows given (the training window) shape the graph and weights."""
        if len(X) < 2 or set(X) != set(y):
            raise ModelError("gnn: needs the same two or more symbols in X and y")
        self.symbols_ = sorted(X)
        self.features_ = list(X[self.symbols_[0]].columns)
        idx, arr = self._stack(X)
        Y = pd.concat([y[s] for s in self.symbols_], axis=1).reindex(idx)
        ok = Y.notna().all(axis=1).to_numpy()
        arr, Y = arr[ok], Y[ok]
        p = self.params
        if len(Y) < p["corr_window"]:
            raise ModelError(f"gnn: {len(Y)} complete training rows, need >= corr_window={p['corr_window']}")
        self.adj_ = correlation_graph(Y, p["corr_window"], p["threshold"])
        self.mu_ = arr.reshape(-1, arr.shape[-1]).mean(0)
        self.sd_ = arr.reshape(-1, arr.shape[-1]).std(0) + 1e-12
        self.y_scale_ = float(Y.to_numpy().std()) or 1.0
        torch.manual_seed(p["seed"])
        self.net_ = _GCN(len(self.features_), p["hidden"])
        x = torch.as_tensor((arr - self.mu_) / self.sd_, dtype=torch.float32)
        t = torch.as_tensor(Y.to_numpy() / self.y_scale_, dtype=torch.float32)
        adj = torch.as_tensor(self.adj_, dtype=torch.float32)
        opt = torch.optim.Adam(self.net_.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        for _ in range(p["epochs"]):
            opt.zero_grad()
            loss = ((self.net_(x, adj) - t) ** 2).mean()
            loss.backward()
            opt.step()
        with torch.no_grad():
            resid = (self.net_(x, adj) - t).numpy() * self.y_scale_
        self.resid_sd_ = float(resid.std()) + 1e-12
        return self

    def predict(self, X: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        if not hasattr(self, "net_"):
            raise NotFittedError("gnn is not fitted: call fit() first")
        idx, arr = self._stack(X)
        x = torch.as_tensor((arr - self.mu_) / self.sd_, dtype=torch.float32)
        with torch.no_grad():
            pred = self.net_(x, torch.as_tensor(self.adj_, dtype=torch.float32)).numpy() * self.y_scale_
        out = {}
        for j, s in enumerate(self.symbols_):
            prob = norm.cdf(pred[:, j] / self.resid_sd_)
            out[s] = pd.DataFrame({"expected_return": pred[:, j], "prob_up": prob,
                                   "confidence": np.abs(2 * prob - 1)}, index=idx)[list(PREDICTION_COLUMNS)]
        return out

    def save(self, path: str | Path) -> Path:
        if not hasattr(self, "net_"):
            raise NotFittedError("gnn is not fitted: call fit() first")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.net_.state_dict(), path / "weights.pt")
        np.savez(path / "graph.npz", adj=self.adj_, mu=self.mu_, sd=self.sd_)
        meta = {"name": self.name, "params": self.params, "symbols": self.symbols_, "features": self.features_,
                "feature_hash": feature_hash(self.features_), "y_scale": self.y_scale_,
                "resid_sd": self.resid_sd_}
        (path / "meta.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "GraphForecaster":
        path = Path(path)
        if not (path / "meta.json").exists():
            raise ModelError(f"{path} is not a saved model (no meta.json)")
        meta = json.loads((path / "meta.json").read_text())
        if meta["name"] != cls.name:
            raise ModelError(f"{path} holds a {meta['name']} model, not {cls.name}")
        m = cls(**meta["params"])
        m.symbols_, m.features_ = meta["symbols"], meta["features"]
        m.y_scale_, m.resid_sd_ = meta["y_scale"], meta["resid_sd"]
        g = np.load(path / "graph.npz")
        m.adj_, m.mu_, m.sd_ = g["adj"], g["mu"], g["sd"]
        m.net_ = _GCN(len(m.features_), m.params["hidden"])
        m.net_.load_state_dict(torch.load(path / "weights.pt", weights_only=True))
        return m
