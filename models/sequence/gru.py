"""GRU over the window; the representation is the last step's hidden state."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class GRUConfig:
    n_features: int
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.1


class GRUNet(nn.Module):
    def __init__(self, cfg: GRUConfig):
        super().__init__()
        self.cfg = cfg
        self.gru = nn.GRU(cfg.n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                          dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.out_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 3 and x.shape[2] == self.cfg.n_features, x.shape   # (B, T, F)
        h, _ = self.gru(x)                                                 # (B, T, H)
        return self.drop(h[:, -1])                                         # (B, H)


class GRUForecaster(SequenceForecaster):
    name = "gru"

    def build_net(self, n_features, p):
        return GRUNet(GRUConfig(n_features, int(p["hidden"]), int(p["layers"]), float(p["dropout"])))
