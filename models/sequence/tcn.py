"""Temporal convolutional network: dilated causal convolutions (left padding only) in
residual blocks; the representation is the last time step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class TCNConfig:
    n_features: int
    channels: int = 32
    levels: int = 3          # dilations 1, 2, 4, ...
    kernel: int = 3
    dropout: float = 0.1


class CausalConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int):
        super().__init__()
        self.left = (kernel - 1) * dilation
        self.conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:      # (B, C, T) -> (B, C', T)
        return self.conv(F.pad(x, (self.left, 0)))


class TemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        self.c1 = CausalConv(c_in, c_out, kernel, dilation)
        self.c2 = CausalConv(c_out, c_out, kernel, dilation)
        self.drop = nn.Dropout(dropout)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(F.relu(self.c1(x)))
        h = self.drop(F.relu(self.c2(h)))
        return F.relu(h + self.skip(x))


class TCN(nn.Module):
    def __init__(self, cfg: TCNConfig):
        super().__init__()
        self.cfg = cfg
        blocks, c_in = [], cfg.n_features
        for i in range(cfg.levels):
            blocks.append(TemporalBlock(c_in, cfg.channels, cfg.kernel, 2 ** i, cfg.dropout))
            c_in = cfg.channels
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = cfg.channels

    @property
    def receptive_field(self) -> int:
        return 1 + 2 * (self.cfg.kernel - 1) * (2 ** self.cfg.levels - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 3 and x.shape[2] == self.cfg.n_features, x.shape   # (B, T, F)
        h = self.blocks(x.transpose(1, 2))                                 # (B, C, T), causal
        return h[:, :, -1]                                                 # (B, C)


class TCNForecaster(SequenceForecaster):
    name = "tcn"
    defaults = {"kernel": 3, "levels": 3}

    def build_net(self, n_features, p):
        return TCN(TCNConfig(n_features, int(p["hidden"]), int(p["levels"]), int(p["kernel"]), float(p["dropout"])))
