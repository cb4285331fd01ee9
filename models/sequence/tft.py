"""A compact Temporal Fusion Transformer (Lim et al., 2021): per-variable embeddings and a
variable selection network, an LSTM encoder, interpretable multi-head attention (heads share
their value projection; causal within the window), gated residual networks with gated skip
connections, and quantile outputs at several horizons (the shared multi-task head with
``quantiles``). There are no static or known-future covariates in a feature frame, so the
static encoders and the decoder half are left out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.sequence.base import SequenceForecaster


@dataclass(frozen=True)
class TFTConfig:
    n_features: int
    window: int
    d_model: int = 16
    heads: int = 4
    dropout: float = 0.1


class GatedAddNorm(nn.Module):
    """LayerNorm(skip + GLU(x))."""

    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.glu = nn.Linear(d, 2 * d)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.norm(skip + F.glu(self.glu(self.drop(x)), dim=-1))


class GRN(nn.Module):
    """Gated residual network: (..., d_in) -> (..., d_out)."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)
        self.skip = nn.Linear(d_in, d_out) if d_in != d_out else nn.Identity()
        self.gate = GatedAddNorm(d_out, dropout)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return self.gate(self.fc2(F.elu(self.fc1(a))), self.skip(a))


class VariableSelection(nn.Module):
    """(B, T, F) -> (B, T, d) and the selection weights (B, T, F)."""

    def __init__(self, n_features: int, d: int, dropout: float):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_features, d) * 0.1)    # one embedding per variable
        self.b = nn.Parameter(torch.zeros(n_features, d))
        self.per_var = GRN(d, d, d, dropout)
        self.select = GRN(n_features * d, d, n_features, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, Fn = x.shape
        e = x.unsqueeze(-1) * self.w + self.b                      # (B, T, F, d)
        wts = torch.softmax(self.select(e.reshape(B, T, -1)), -1)  # (B, T, F)
        v = self.per_var(e)                                        # (B, T, F, d)
        return (wts.unsqueeze(-1) * v).sum(dim=2), wts             # (B, T, d), (B, T, F)


class InterpretableAttention(nn.Module):
    """Multi-head attention whose heads share V and are averaged, so the attention weights
    read as one pattern over time steps."""

    def __init__(self, d: int, heads: int, dropout: float):
        super().__init__()
        assert d % heads == 0, "d_model must be a multiple of heads"
        self.h, self.dk = heads, d // heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, self.dk)
        self.out = nn.Linear(self.dk, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        q = self.q(x).view(B, T, self.h, self.dk).transpose(1, 2)          # (B, h, T, dk)
        k = self.k(x).view(B, T, self.h, self.dk).transpose(1, 2)          # (B, h, T, dk)
        v = self.v(x)                                                      # (B, T, dk), shared
        s = q @ k.transpose(-1, -2) / self.dk ** 0.5                        # (B, h, T, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        a = self.drop(torch.softmax(s.masked_fill(causal, float("-inf")), -1))
        heads = a @ v.unsqueeze(1)                                         # (B, h, T, dk)
        return self.out(heads.mean(dim=1)), a.mean(dim=1)                  # (B, T, d), (B, T, T)


class TemporalFusionTransformer(nn.Module):
    def __init__(self, cfg: TFTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.vsn = VariableSelection(cfg.n_features, d, cfg.dropout)
        self.lstm = nn.LSTM(d, d, batch_first=True)
        self.post_lstm = GatedAddNorm(d, cfg.dropout)
        self.attn = InterpretableAttention(d, cfg.heads, cfg.dropout)
        self.post_attn = GatedAddNorm(d, cfg.dropout)
        self.ff = GRN(d, d, d, cfg.dropout)
        self.post_ff = GatedAddNorm(d, cfg.dropout)
        self.out_dim = d

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        B, T, Fn = x.shape
        assert T == self.cfg.window and Fn == self.cfg.n_features, x.shape
        v, var_w = self.vsn(x)                       # (B, T, d), (B, T, F)
        h, _ = self.lstm(v)                          # (B, T, d)
        h = self.post_lstm(h, v)                     # (B, T, d)
        a, att_w = self.attn(h)                      # (B, T, d), (B, T, T)
        z = self.post_attn(a, h)
        z = self.post_ff(self.ff(z), h)[:, -1]       # (B, d)
        return (z, var_w, att_w) if return_weights else z


class TFTForecaster(SequenceForecaster):
    name = "tft"
    defaults = {"heads": 4, "quantiles": [0.1, 0.5, 0.9], "hidden": 16}

    def build_net(self, n_features, p):
        return TemporalFusionTransformer(TFTConfig(n_features, int(p["window"]), int(p["hidden"]),
                                                   int(p["heads"]), float(p["dropout"])))

    def variable_importance(self, X) -> dict[str, float]:
        """Mean variable-selection weight of each feature over the rows of X."""
        from models.sequence.windows import padded, window_view
        self._check_fitted()
        w = int(self.hp()["window"])
        views = window_view(padded(self.norm_.transform(X), w), w).contiguous()
        with torch.no_grad():
            _, var_w, _ = self.module_.net(views, return_weights=True)
        return dict(zip(self.features_, var_w.mean(dim=(0, 1)).tolist()))
