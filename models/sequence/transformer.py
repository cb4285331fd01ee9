"""Transformer encoder with two attentions: over the time steps of the window (each step a
token) and over the features (each feature's path through the window a token)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class TransformerConfig:
    n_features: int
    window: int
    d_model: int = 32
    heads: int = 4
    layers: int = 1
    dropout: float = 0.1


def encoder(d: int, heads: int, layers: int, dropout: float) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=2 * d, dropout=dropout,
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class TimeFeatureTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        assert cfg.d_model % cfg.heads == 0, "d_model must be a multiple of heads"
        self.cfg = cfg
        self.step_in = nn.Linear(cfg.n_features, cfg.d_model)
        self.pos = nn.Parameter(torch.zeros(1, cfg.window, cfg.d_model))
        self.time_enc = encoder(cfg.d_model, cfg.heads, cfg.layers, cfg.dropout)
        self.feat_in = nn.Linear(cfg.window, cfg.d_model)
        self.feat_id = nn.Parameter(torch.zeros(1, cfg.n_features, cfg.d_model))
        self.feat_enc = encoder(cfg.d_model, cfg.heads, cfg.layers, cfg.dropout)
        self.norm = nn.LayerNorm(2 * cfg.d_model)
        self.out_dim = 2 * cfg.d_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, F = x.shape
        assert T == self.cfg.window and F == self.cfg.n_features, x.shape
        t = self.time_enc(self.step_in(x) + self.pos)                          # (B, T, d)
        f = self.feat_enc(self.feat_in(x.transpose(1, 2)) + self.feat_id)      # (B, F, d)
        return self.norm(torch.cat([t[:, -1], f.mean(dim=1)], dim=-1))         # (B, 2d)


class TransformerForecaster(SequenceForecaster):
    name = "transformer"
    defaults = {"heads": 4}

    def build_net(self, n_features, p):
        return TimeFeatureTransformer(TransformerConfig(n_features, int(p["window"]), int(p["hidden"]),
                                                        int(p["heads"]), int(p["layers"]), float(p["dropout"])))
