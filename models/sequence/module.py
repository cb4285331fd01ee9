"""The LightningModule that trains any sequence network with the multi-task head."""

from __future__ import annotations

import copy

import pytorch_lightning as pl
import torch
from torch import nn

from models.sequence.heads import MultiTaskHead, multitask_loss, point


class SequenceModule(pl.LightningModule):
    """``net`` maps (B, W, F) to (B, D); the head turns that into returns and a direction.
    Logs ``train_loss``, ``val_loss`` and ``val_mse`` (label-horizon return, in return units)."""

    def __init__(self, net: nn.Module, head: MultiTaskHead, *, lr: float, weight_decay: float,
                 quantiles: tuple[float, ...], aux_weight: float, dir_weight: float, y_scale: float):
        super().__init__()
        self.net, self.head = net, head
        self.lr, self.weight_decay = lr, weight_decay
        self.quantiles, self.aux_weight, self.dir_weight = tuple(quantiles), aux_weight, dir_weight
        self.y_scale = float(y_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert x.dim() == 3, x.shape                  # (B, W, F)
        return self.head(self.net(x))                 # (B, H, Q), (B,)

    def _loss(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, tgt = batch
        r, logit = self(x)
        loss = multitask_loss(r, logit, tgt, quantiles=self.quantiles, aux_weight=self.aux_weight,
                              dir_weight=self.dir_weight)
        return loss, point(r, self.quantiles)[:, 0].float(), tgt[:, 0]

    def training_step(self, batch, batch_idx):
        loss, _, _ = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch, batch_idx):
        loss, pred, y = self._loss(batch)
        ok = torch.isfinite(y)
        mse = ((pred[ok] - y[ok]) ** 2).mean() * self.y_scale ** 2 if ok.any() else loss.new_zeros(())
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log("val_mse", mse, on_step=False, on_epoch=True, batch_size=len(y))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)


class KeepBest(pl.Callback):
    """Keeps, in memory, the weights of the epoch with the lowest ``val_loss``; they travel in
    Lightning checkpoints, so a resumed fit still ends on the best epoch before the break."""

    def __init__(self) -> None:
        self.best = float("inf")
        self.state: dict | None = None

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        v = trainer.callback_metrics.get("val_loss")
        if v is not None and float(v) < self.best:
            self.best = float(v)
            self.state = copy.deepcopy({k: t.detach().cpu() for k, t in pl_module.state_dict().items()})

    def state_dict(self) -> dict:
        return {"best": self.best, "state": self.state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.best = float(state_dict.get("best", float("inf")))
        self.state = state_dict.get("state")
