"""What every sequence forecaster shares: windows, the training-slice normaliser, the
multi-task head, and training with Lightning (``accelerator="auto"``: CUDA with mixed
precision, MPS, or CPU), early stopping on the validation slice, seeds and resumable
checkpoints. A subclass says only how to build its network from the parameters."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

from models.base import Forecaster
from models.sequence.heads import HeadConfig, MultiTaskHead, multi_horizon_targets, point
from models.sequence.module import KeepBest, SequenceModule
from models.sequence.windows import Normaliser, WindowDataset, padded, window_view
from pipelines.errors import ModelError

log = logging.getLogger(__name__)

COMMON: dict[str, Any] = {
    "window": 32,            # bars per window (the row itself and window-1 before it)
    "hidden": 32,            # width of the network
    "layers": 1,
    "dropout": 0.1,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "batch_size": 64,
    "max_epochs": 20,
    "patience": 3,           # epochs without a better val_loss before stopping
    "seed": 0,
    "label_horizon": 1,      # bars covered by one label y
    "aux_horizons": [24],    # longer horizons (bars, multiples of label_horizon) learnt as side tasks
    "quantiles": [],         # e.g. [0.1, 0.5, 0.9] for quantile outputs
    "aux_weight": 0.5,
    "dir_weight": 0.5,
    "accelerator": "auto",   # auto | cpu | cuda | gpu | mps
    "precision": "auto",     # auto = 16-mixed on CUDA, else 32-true
    "checkpoint_dir": None,  # a folder: checkpoints each epoch, and a rerun resumes from last.ckpt
    "max_train_rows": None,  # keep only the most recent rows
}


class SequenceForecaster(Forecaster):
    consumes = "sequence"
    wants_gpu = True
    defaults: ClassVar[dict[str, Any]] = {}

    # -- for subclasses -----------------------------------------------------------------------
    def build_net(self, n_features: int, p: dict[str, Any]) -> nn.Module:
        """The network: (B, window, n_features) -> (B, net.out_dim)."""
        raise NotImplementedError

    # -- parameters ---------------------------------------------------------------------------
    def hp(self) -> dict[str, Any]:
        known = {**COMMON, **self.defaults}
        unknown = sorted(set(self.params) - set(known))
        if unknown:
            raise ModelError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        p = {**known, **self.params}
        p["aux_horizons"] = [int(h) for h in (p["aux_horizons"] or [])]
        p["quantiles"] = [float(q) for q in (p["quantiles"] or [])]
        if any(not 0 < q < 1 for q in p["quantiles"]):
            raise ModelError(f"{self.name}: quantiles must lie in (0, 1), got {p['quantiles']}")
        return p

    def _horizons(self, p) -> tuple[int, ...]:
        return (int(p["label_horizon"]), *p["aux_horizons"])

    def _module(self, n_features: int, p: dict[str, Any], y_scale: float) -> SequenceModule:
        net = self.build_net(n_features, p)
        head = MultiTaskHead(HeadConfig(in_dim=net.out_dim, n_horizons=len(self._horizons(p)),
                                        quantiles=tuple(p["quantiles"])))
        return SequenceModule(net, head, lr=float(p["lr"]), weight_decay=float(p["weight_decay"]),
                              quantiles=tuple(p["quantiles"]), aux_weight=float(p["aux_weight"]),
                              dir_weight=float(p["dir_weight"]), y_scale=y_scale)

    def set_training_hooks(self, callbacks: list | None = None, resume_from: str | None = None) -> "SequenceForecaster":
        """Extra Lightning callbacks (e.g. a Tune reporter) and a checkpoint to resume from;
        not parameters of the model, so not saved with it."""
        self._hooks = {"callbacks": list(callbacks or []), "resume_from": resume_from}
        return self

    # -- fit ----------------------------------------------------------------------------------
    def _targets(self, y: pd.Series, p) -> np.ndarray:
        t = multi_horizon_targets(y.to_numpy(dtype="float64"), int(p["label_horizon"]), self._horizons(p))
        t[:, :-1] = t[:, :-1] / self.scales_                      # returns in units of their deviation
        return t

    def _fit(self, X, y, X_val, y_val) -> None:
        p = self.hp()
        quiet_lightning()
        pl.seed_everything(int(p["seed"]), workers=True, verbose=False)
        if p["max_train_rows"] and len(X) > int(p["max_train_rows"]):
            X, y = X.iloc[-int(p["max_train_rows"]):], y.iloc[-int(p["max_train_rows"]):]
        self.norm_ = Normaliser.fit(X)                             # training slice only
        raw = multi_horizon_targets(y.to_numpy(dtype="float64"), int(p["label_horizon"]), self._horizons(p))
        with np.errstate(all="ignore"):
            sc = np.nanstd(raw[:, :-1], axis=0)
        self.scales_ = np.where(np.isfinite(sc) & (sc > 1e-12), sc, 1.0)
        tr_t = self._targets(y, p)
        tr_rows = np.flatnonzero(np.isfinite(tr_t[:, 0]))
        if len(tr_rows) == 0:
            raise ModelError(f"{self.name}: no finite label to train on")
        train = WindowDataset(self.norm_.transform(X), tr_t, int(p["window"]), tr_rows)
        gen = torch.Generator().manual_seed(int(p["seed"]))
        bs = int(p["batch_size"])
        train_dl = DataLoader(train, batch_size=bs, shuffle=True, generator=gen, num_workers=0)
        val_dl = None
        if X_val is not None and y_val is not None and len(X_val) > 0:
            va_t = self._targets(y_val, p)
            va_rows = np.flatnonzero(np.isfinite(va_t[:, 0]))
            if len(va_rows):
                # the validation windows may look back into the training rows just before them
                ctx = X.iloc[-(int(p["window"]) - 1):] if int(p["window"]) > 1 else X.iloc[:0]
                ctx = ctx if (len(ctx) == 0 or ctx.index[-1] < X_val.index[0]) else X.iloc[:0]
                zv = self.norm_.transform(pd.concat([ctx, X_val]))
                tv = np.vstack([np.full((len(ctx), va_t.shape[1]), np.nan), va_t])
                val_dl = DataLoader(WindowDataset(zv, tv, int(p["window"]), va_rows + len(ctx)),
                                    batch_size=max(bs, 256), shuffle=False, num_workers=0)
        self.module_ = self._module(X.shape[1], p, float(self.scales_[0]))
        hooks = getattr(self, "_hooks", {"callbacks": [], "resume_from": None})
        callbacks: list = list(hooks["callbacks"])
        keep = KeepBest()
        if val_dl is not None:
            callbacks += [EarlyStopping("val_loss", patience=int(p["patience"]), mode="min",
                                        check_on_train_epoch_end=False), keep]
        resume = hooks["resume_from"]
        if p["checkpoint_dir"]:
            ck = Path(p["checkpoint_dir"])
            callbacks.append(ModelCheckpoint(dirpath=ck, save_last=True, save_top_k=0 if val_dl is None else 1,
                                             monitor=None if val_dl is None else "val_loss"))
            if resume is None and (ck / "last.ckpt").exists():
                resume = str(ck / "last.ckpt")
        accel, precision = resolve_device(p["accelerator"], p["precision"])
        trainer = pl.Trainer(accelerator=accel, devices=1, precision=precision,
                             max_epochs=int(p["max_epochs"]), callbacks=callbacks, logger=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             enable_checkpointing=bool(p["checkpoint_dir"]),
                             deterministic=True if accel == "cpu" else "warn",
                             num_sanity_val_steps=0)
        trainer.fit(self.module_, train_dl, val_dl, ckpt_path=resume)
        if keep.state is not None:
            self.module_.load_state_dict(keep.state)
        self.module_ = self.module_.to("cpu").eval()
        self.fit_info_ = {"epochs": int(trainer.current_epoch), "accelerator": accel, "precision": precision,
                          "best_val_loss": keep.best if keep.state is not None else None,
                          "n_train": int(len(train))}

    # -- predict ------------------------------------------------------------------------------
    def predict_all(self, X: pd.DataFrame, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Returns (N, horizons, quantiles) in return units and P(up) (N,) for every row of X."""
        self._check_fitted()
        p = self.hp()
        w = int(p["window"])
        views = window_view(padded(self.norm_.transform(X), w), w)     # (N, W, F), a view
        rs, ps = [], []
        self.module_.eval()
        with torch.no_grad():
            for i in range(0, len(views), batch_size):
                r, logit = self.module_(views[i:i + batch_size].contiguous())
                rs.append(r.float().numpy())
                ps.append(torch.sigmoid(logit.float()).numpy())
        r = np.concatenate(rs) if rs else np.zeros((0, len(self.scales_), 1), dtype="float32")
        r = r.astype("float64") * self.scales_[None, :, None]
        return r, (np.concatenate(ps) if ps else np.zeros(0)).astype("float64")

    def _predict(self, X: pd.DataFrame) -> pd.DataFrame:
        r, prob = self.predict_all(X)
        er = point(torch.from_numpy(r), tuple(self.hp()["quantiles"]))[:, 0].numpy()
        return pd.DataFrame({"expected_return": er, "prob_up": prob,
                             "confidence": np.abs(prob - 0.5) * 2}, index=X.index)

    # -- persistence --------------------------------------------------------------------------
    def _save_weights(self, path: Path) -> None:
        torch.save(self.module_.state_dict(), path / "weights.pt")
        (path / "sequence.json").write_text(json.dumps(
            {"norm": self.norm_.state(), "scales": self.scales_.tolist(), "n_features": len(self.features_),
             "fit_info": getattr(self, "fit_info_", {})}, default=str))

    def _load_weights(self, path: Path) -> None:
        s = json.loads((path / "sequence.json").read_text())
        self.norm_ = Normaliser.from_state(s["norm"])
        self.scales_ = np.asarray(s["scales"], dtype="float64")
        self.fit_info_ = s.get("fit_info", {})
        self.module_ = self._module(int(s["n_features"]), self.hp(), float(self.scales_[0]))
        self.module_.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        self.module_.eval()


def quiet_lightning() -> None:
    """Lightning announces devices and tips at INFO on every fit; keep warnings only."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


def resolve_device(accelerator: str, precision: str) -> tuple[str, str]:
    """``auto`` picks CUDA, then MPS, then CPU; ``auto`` precision is 16-mixed on CUDA only."""
    acc = accelerator
    if acc == "auto":
        if torch.cuda.is_available():
            acc = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            acc = "mps"
        else:
            acc = "cpu"
    if acc == "gpu":
        acc = "cuda"
    if precision == "auto":
        precision = "16-mixed" if acc == "cuda" else "32-true"
    return acc, precision
