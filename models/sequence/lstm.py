"""LSTM with attention over the time steps of the window (uni- or bidirectional: both
directions run over the past window only, so nothing after t enters)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class LSTMConfig:
    n_features: int
    hidden: int = 32
    layers: int = 1
    dropout: float = 0.1
    bidirectional: bool = False


class AttentiveLSTM(nn.Module):
    def __init__(self, cfg: LSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.n_features, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0, bidirectional=cfg.bidirectional)
        d = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.score = nn.Linear(d, 1)
        self.drop = nn.Dropout(cfg.dropout)
        self.out_dim = 2 * d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, F = x.shape
        assert F == self.cfg.n_features, (F, self.cfg.n_features)
        h, _ = self.lstm(x)                                   # (B, T, D)
        a = torch.softmax(self.score(h).squeeze(-1), dim=1)   # (B, T) attention over time steps
        ctx = torch.einsum("bt,btd->bd", a, h)                # (B, D)
        return self.drop(torch.cat([ctx, h[:, -1]], dim=-1))  # (B, 2D)


class LSTMForecaster(SequenceForecaster):
    name = "lstm"
    defaults = {"bidirectional": False}

    def build_net(self, n_features, p):
        return AttentiveLSTM(LSTMConfig(n_features, int(p["hidden"]), int(p["layers"]), float(p["dropout"]),
                                        bool(p["bidirectional"])))
