"""1D convolutions over the window (features as channels), pooled over time."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class CNN1DConfig:
    n_features: int
    channels: int = 32
    layers: int = 2
    kernel: int = 3
    dropout: float = 0.1


class CNN1D(nn.Module):
    def __init__(self, cfg: CNN1DConfig):
        super().__init__()
        self.cfg = cfg
        blocks, c_in = [], cfg.n_features
        for _ in range(cfg.layers):
            blocks += [nn.Conv1d(c_in, cfg.channels, cfg.kernel, padding=cfg.kernel // 2), nn.GELU(),
                       nn.Dropout(cfg.dropout)]
            c_in = cfg.channels
        self.convs = nn.Sequential(*blocks)
        self.out_dim = 2 * cfg.channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 3 and x.shape[2] == self.cfg.n_features, x.shape   # (B, T, F)
        h = self.convs(x.transpose(1, 2))                                  # (B, C, T)
        return torch.cat([h.mean(dim=2), h[:, :, -1]], dim=-1)             # (B, 2C)


class CNN1DForecaster(SequenceForecaster):
    name = "cnn1d"
    defaults = {"kernel": 3}

    def build_net(self, n_features, p):
        return CNN1D(CNN1DConfig(n_features, int(p["hidden"]), max(1, int(p["layers"])), int(p["kernel"]),
                                 float(p["dropout"])))
