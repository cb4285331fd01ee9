"""Training throughput (window samples per second) of every sequence model on CPU.

Each model fits BENCH_EPOCHS epochs on the real S&P 500 daily sample (BENCH_ROWS rows of core
features, window 32, hidden 32, batch 64, one thread). The baseline is the same network and
head trained by a bare PyTorch loop over the same windows (no Lightning, no validation), so the
ratio (ours / bare loop) is what the forecaster and Lightning cost on top of the arithmetic.

Run: ``.venv/bin/python tests/bench/bench_sequence.py`` (BENCH_ONLY=lstm,tcn for some models).
Best of BENCH_REPEAT wall times; on a shared machine they move with its load."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import torch

from models.sequence import MODELS
from models.sequence.heads import multitask_loss
from models.sequence.windows import Normaliser, WindowDataset
from models.training.dataset import make_dataset
from models.zoo import create
from pipelines.features.catalog import feature_set
from pipelines.sources.sample import sample_bars

ROWS = int(os.environ.get("BENCH_ROWS", 2500))
EPOCHS = int(os.environ.get("BENCH_EPOCHS", 2))
REPEAT = int(os.environ.get("BENCH_REPEAT", 2))
PARAMS = {"window": 32, "hidden": 32, "batch_size": 64, "max_epochs": EPOCHS, "aux_horizons": [24]}


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    print(json.dumps({"bench": bench, "value": round(float(value), 2), "unit": unit,
                      "baseline": None if baseline is None else round(float(baseline), 2),
                      "ratio": None if ratio is None else round(float(ratio), 4), **extra}), flush=True)


def bare_loop(model, X, y) -> float:
    """Seconds for EPOCHS epochs of a plain loop over the same windows and loss."""
    p = model.hp()
    norm = Normaliser.fit(X)
    tgt = model._targets(y, p)
    ds = WindowDataset(norm.transform(X), tgt, int(p["window"]), np.flatnonzero(np.isfinite(tgt[:, 0])))
    module = model._module(X.shape[1], p, 1.0)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    dl = torch.utils.data.DataLoader(ds, batch_size=int(p["batch_size"]), shuffle=True)
    t0 = time.perf_counter()
    for _ in range(EPOCHS):
        for xb, tb in dl:
            r, logit = module(xb)
            loss = multitask_loss(r, logit, tb, quantiles=tuple(p["quantiles"]), aux_weight=0.5, dir_weight=0.5)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def main() -> None:
    torch.set_num_threads(1)
    bars, _ = sample_bars("SPX", ROWS + 300)
    ds = make_dataset(bars, feature_set("core"), horizon=1)
    X, y = ds.X.iloc[-ROWS:], ds.y.iloc[-ROWS:]
    only = [m for m in os.environ.get("BENCH_ONLY", "").split(",") if m]
    for name in sorted(MODELS):
        if only and name not in only:
            continue
        params = {**PARAMS, **({"heads": 4} if name in ("transformer", "tft", "transformer_lstm") else {})}
        ours, base = [], []
        for _ in range(REPEAT):
            m = create(name, params)
            t0 = time.perf_counter()
            m.fit(X, y)
            ours.append(time.perf_counter() - t0)
            base.append(bare_loop(m, X, y))
        n = m.fit_info_["n_train"] * EPOCHS
        s_ours, s_base = n / min(ours), n / min(base)
        emit(f"sequence_train_{name}", s_ours, "samples/s", baseline=s_base, ratio=s_ours / s_base,
             rows=len(X), features=X.shape[1], epochs=EPOCHS, window=32, hidden=32, threads=1,
             device="cpu", load_avg=round(os.getloadavg()[0], 2))


if __name__ == "__main__":
    main()
