"""CNN-LSTM: a 1D convolution extracts local patterns per step, an LSTM reads them in order."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class CNNLSTMConfig:
    n_features: int
    channels: int = 32
    hidden: int = 32
    kernel: int = 3
    dropout: float = 0.1


class CNNLSTM(nn.Module):
    def __init__(self, cfg: CNNLSTMConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv1d(cfg.n_features, cfg.channels, cfg.kernel)
        self.lstm = nn.LSTM(cfg.channels, cfg.hidden, batch_first=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.out_dim = cfg.hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 3 and x.shape[2] == self.cfg.n_features, x.shape    # (B, T, F)
        c = F.pad(x.transpose(1, 2), (self.cfg.kernel - 1, 0))              # (B, F, T + k - 1)
        c = F.gelu(self.conv(c)).transpose(1, 2)                            # (B, T, C)
        h, _ = self.lstm(self.drop(c))                                      # (B, T, H)
        return self.drop(h[:, -1])                                          # (B, H)


class CNNLSTMForecaster(SequenceForecaster):
    name = "cnn_lstm"
    defaults = {"kernel": 3}

    def build_net(self, n_features, p):
        h = int(p["hidden"])
        return CNNLSTM(CNNLSTMConfig(n_features, h, h, int(p["kernel"]), float(p["dropout"])))
