"""Panel model choice on training data only, then one out-of-sample verdict, on the 197-stock daily
dev universe (shared data, read in place).

Candidates (feature set x model) are compared on the **development window** alone: the dates
before the main walk-forward's first test date, where an inner walk-forward (train 250 / test 50
dates, purged) gives each candidate out-of-sample predictions *inside* that window; they are
judged by daily rank IC on the cells every candidate predicted. The best by that figure is then
run once through the main walk-forward (train 500 / retrain every 126 dates, the issue's
figures) and judged out of sample beside 1-bar and 5-bar reversal and 20-bar momentum on its
own cells; ``model_minus_best_baseline`` is the Newey-West t of the daily rank-IC difference.
Nothing after the development window shapes the choice, and every candidate is one trial
(``trials`` on each line).

    nice .venv/bin/python tests/bench/bench_panel_selection.py
    BENCH_CANDIDATES=core:lightgbm,core:logistic python tests/bench/bench_panel_selection.py
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np
import pandas as pd

from bench_panel_walkforward import DATA, load_universe

HORIZON, LABEL, TRAIN, TEST = 1, "rank", 500, 126
DEV_TRAIN, DEV_TEST = 250, 50
CANDIDATES = "core:lightgbm,core:xgboost,core:logistic,standard:lightgbm,standard:logistic"


def emit(bench: str, value, unit: str, baseline=None, ratio=None, **extra) -> None:
    r = lambda v: None if v is None or not np.isfinite(v) else round(float(v), 4)
    print(json.dumps({"bench": bench, "value": r(value), "unit": unit, "baseline": r(baseline), "ratio": r(ratio),
                      **extra}), flush=True)


def predict_walkforward(panel, model: str, wf) -> pd.Series:
    """Out-of-sample expected returns of one zoo model over the panel's date folds (one process)."""
    from models.training.panel_walkforward import run_panel_walkforward
    return run_panel_walkforward(panel, [model], wf, use_ray=False)[model].predictions["expected_return"]


def window(panel, before: pd.Timestamp):
    """The panel restricted to dates before ``before``."""
    from models.training.panel import PanelDataset
    keep = panel.X.index.get_level_values("ts") < before
    return PanelDataset(X=panel.X[keep], y=panel.y[keep], fwd=panel.fwd[keep],
                        label_known_at=panel.label_known_at[keep], signals=panel.signals[keep],
                        horizon=panel.horizon, label=panel.label)


def main() -> int:
    warnings.filterwarnings("ignore")
    from models.training.panel import SIGNALS, date_splits, make_panel
    from pipelines.config import WalkForwardConfig
    from pipelines.evaluation.signal import analyse, newey_west_t
    from pipelines.features.catalog import feature_set

    if not DATA.is_dir():
        print(json.dumps({"bench": "panel_selection", "error": f"no shared data at {DATA}"}))
        return 1
    cands = [tuple(c.split(":")) for c in os.environ.get("BENCH_CANDIDATES", CANDIDATES).split(",")]
    bars = load_universe(int(os.environ["BENCH_SYMBOLS"]) if os.environ.get("BENCH_SYMBOLS") else None)
    main_wf = WalkForwardConfig(horizon=HORIZON, train_bars=TRAIN, test_bars=TEST, validation_fraction=0.2)
    dev_wf = WalkForwardConfig(horizon=HORIZON, train_bars=DEV_TRAIN, test_bars=DEV_TEST, validation_fraction=0.2)
    panels = {fs: make_panel(bars, feature_set(fs), HORIZON, label=LABEL) for fs in dict.fromkeys(f for f, _ in cands)}
    # the development window ends where the earliest main walk-forward's first test window opens
    cutoff = min(p.dates[date_splits(p, main_wf)[0].test[0]] for p in panels.values())
    common = {"symbols": len(bars), "horizon": HORIZON, "label": LABEL, "trials": len(cands),
              "dev_window_end": str(cutoff.date())}
    dev = {}
    for fs, model in cands:
        t0 = time.perf_counter()
        dev[(fs, model)] = predict_walkforward(window(panels[fs], cutoff), model, dev_wf)
        dev[(fs, model)].attrs["seconds"] = time.perf_counter() - t0
    cells = None
    for p in dev.values():
        cells = p.index if cells is None else cells.intersection(p.index)
    fwd = next(iter(panels.values())).fwd
    scores = {}
    for (fs, model), p in dev.items():
        s = analyse(p.reindex(cells), fwd.reindex(cells), HORIZON).summary()
        scores[(fs, model)] = s["rank_ic_mean"]
        emit(f"dev_{fs}_{model}_rank_ic", s["rank_ic_mean"], "rank_ic", nw_t=round(s["rank_ic_nw_t"], 3),
             days=s["days"], features=panels[fs].X.shape[1], seconds=round(p.attrs["seconds"], 1), **common)
    fs, model = max(scores, key=lambda k: scores[k] if np.isfinite(scores[k]) else -np.inf)
    t0 = time.perf_counter()
    pred = predict_walkforward(panels[fs], model, main_wf)
    seconds = time.perf_counter() - t0
    oos = pred.index
    fwd = panels[fs].fwd.reindex(oos)
    a = analyse(pred, fwd, HORIZON)
    base = {b: analyse(panels[fs].signals[b].reindex(oos), fwd, HORIZON) for b in SIGNALS}
    best = max(base, key=lambda b: base[b].rank_ic.mean())
    diff = (a.rank_ic - base[best].rank_ic).dropna()
    s = a.summary()
    emit(f"oos_selected_{fs}_{model}_rank_ic", s["rank_ic_mean"], "rank_ic", baseline=base[best].rank_ic.mean(),
         ratio=s["rank_ic_mean"] / base[best].rank_ic.mean() if base[best].rank_ic.mean() else None,
         nw_t=round(s["rank_ic_nw_t"], 3), days=s["days"], best_baseline=best,
         model_minus_best_baseline_nw_t=round(newey_west_t(diff, HORIZON)[1], 3), seconds=round(seconds, 1), **common)
    for b, ab in base.items():
        sb = ab.summary()
        emit(f"oos_baseline_{b}_rank_ic", sb["rank_ic_mean"], "rank_ic", nw_t=round(sb["rank_ic_nw_t"], 3),
             days=sb["days"], **common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
