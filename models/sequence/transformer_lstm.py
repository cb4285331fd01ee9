"""Transformer + LSTM hybrid: an LSTM encodes the window in order, self-attention over its
outputs lets every step look at the others (all within the past window)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sequence.base import SequenceForecaster
from models.sequence.transformer import encoder


@dataclass(frozen=True)
class TransformerLSTMConfig:
    n_features: int
    hidden: int = 32
    heads: int = 4
    layers: int = 1
    dropout: float = 0.1


class TransformerLSTM(nn.Module):
    def __init__(self, cfg: TransformerLSTMConfig):
        super().__init__()
        assert cfg.hidden % cfg.heads == 0, "hidden must be a multiple of heads"
        self.cfg = cfg
        self.lstm = nn.LSTM(cfg.n_features, cfg.hidden, batch_first=True)
        self.attn = encoder(cfg.hidden, cfg.heads, cfg.layers, cfg.dropout)
        self.out_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 3 and x.shape[2] == self.cfg.n_features, x.shape   # (B, T, F)
        h, _ = self.lstm(x)                                                # (B, T, H)
        return self.attn(h)[:, -1]                                         # (B, H)


class TransformerLSTMForecaster(SequenceForecaster):
    name = "transformer_lstm"
    defaults = {"heads": 4}

    def build_net(self, n_features, p):
        return TransformerLSTM(TransformerLSTMConfig(n_features, int(p["hidden"]), int(p["heads"]),
                                                     int(p["layers"]), float(p["dropout"])))
