"""Panel walk-forward over the 197-stock daily dev universe (shared data, read in place): wall time,
peak RSS and out-of-sample daily rank IC of LightGBM and XGBoost panel models (core feature set,
ranked per date), beside a minimal reference in the same run: plain pandas + LightGBM on 20
per-date ranked return / volatility / volume features, on the same date folds and cells.

    nice .venv/bin/python tests/bench/bench_panel_walkforward.py
    BENCH_SYMBOLS=60 BENCH_MODELS=lightgbm python tests/bench/bench_panel_walkforward.py   # smaller

Choices made before any result was seen: horizon 1 day; label = cross-sectional rank of the
forward return (as Qlib's CSRankNorm label; rank IC is what is judged); train window 500 dates,
retrain every 126 dates (the issue's figures), validation tail 20% for early stopping, purge =
horizon, no embargo; zoo default parameters; every fold in one process (no Ray, so the RSS is
its own process's). Each measured run (the reference, each panel model) is a fresh process
that loads the bars and then times its features and folds, so the peak RSS is its own. One JSON object per line per figure; a time's baseline is the reference's time
(ratio = panel / reference), an IC's baseline is the reference's IC (ratio = panel / reference).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import numpy as np
import pandas as pd

DATA = Path(os.environ.get("MERIDIAN_SHARED_DATA", REPO.parent / "shared" / "data"))
FOLDERS = ("stocks_daily_sp500", "stocks_daily_sp500_universe")
HORIZON, TRAIN, TEST, LABEL = 1, 500, 126, "rank"
REF_PARAMS = dict(n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=100, subsample=0.8,
                  subsample_freq=1, colsample_bytree=0.8, n_jobs=1, verbose=-1, random_state=0)


def emit(bench: str, value, unit: str, baseline=None, ratio=None, **extra) -> None:
    r = lambda v: None if v is None else round(float(v), 4)
    print(json.dumps({"bench": bench, "value": r(value), "unit": unit, "baseline": r(baseline),
                      "ratio": r(ratio), **extra}), flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_universe(limit: int | None) -> dict[str, pd.DataFrame]:
    from pipelines.sources.files import import_bars
    files = sorted(f for d in FOLDERS for f in (DATA / d).glob("*_data.csv.gz"))[:limit]
    return {f.name.split("_")[0]: import_bars(f, asset_class="stock", tz="UTC", symbol=f.name.split("_")[0]).bars
            for f in files}


def reference_features(bars: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.Series]:
    """20 plain features per symbol from its own past, ranked per date; label: fwd return."""
    def one(b: pd.DataFrame) -> pd.DataFrame:
        b = b.set_index("ts")
        lc, r = np.log(b["close"]), np.log(b["close"]).diff()
        dv = np.log((b["close"] * b["volume"]).replace(0, np.nan))
        f = {f"ret_{k}": lc.diff(k) for k in (1, 2, 3, 5, 10, 20, 60)}
        f |= {f"vol_{k}": r.rolling(k).std() for k in (5, 20, 60)}
        f |= {"mom_60_5": lc.shift(5) - lc.shift(60), "mom_20_1": lc.shift(1) - lc.shift(20),
              "range_5": np.log(b["high"] / b["low"]).rolling(5).mean(),
              "range_20": np.log(b["high"] / b["low"]).rolling(20).mean(),
              "hi_20": lc - np.log(b["high"].rolling(20).max()), "lo_20": lc - np.log(b["low"].rolling(20).min()),
              "dvol_5_20": dv.rolling(5).mean() - dv.rolling(20).mean(), "dvol_20": dv.rolling(20).mean(),
              "vol_ratio_5_60": r.rolling(5).std() / r.rolling(60).std(), "skew_20": r.rolling(20).skew()}
        out = pd.DataFrame(f)
        out["__fwd"] = lc.shift(-HORIZON) - lc
        return out.iloc[60:]
    df = pd.concat({s: one(b) for s, b in bars.items()}, names=["symbol", "ts"]).swaplevel().sort_index()
    df = df[df["__fwd"].notna()]
    fwd = df.pop("__fwd")
    ranked = df.groupby(level="ts").rank(pct=True) - 0.5
    return ranked, fwd


def reference_run(bars, date_folds: list[dict]) -> pd.Series:
    """Plain LightGBM on the reference features, one regressor per date fold."""
    import lightgbm as lgb
    X, fwd = reference_features(bars)
    y = fwd.groupby(level="ts").rank(pct=True) - 0.5
    ts = X.index.get_level_values("ts")
    preds = []
    for f in date_folds:
        train, test = ts.isin(pd.DatetimeIndex(f["train"])), ts.isin(pd.DatetimeIndex(f["test"]))
        model = lgb.LGBMRegressor(**REF_PARAMS).fit(X[train], y[train])
        preds.append(pd.Series(model.predict(X[test]), index=X.index[test]))
    return pd.concat(preds).sort_index()


def child(kind: str, tmp: Path) -> None:
    """One measured run in a fresh process: bars loaded, then the reference or one panel model
    (features included); its time and this process's peak RSS on stdout, predictions to tmp."""
    from models.training.panel import make_panel
    from models.training.panel_walkforward import run_panel_walkforward
    from pipelines.config import WalkForwardConfig
    from pipelines.features.catalog import feature_set
    limit = int(os.environ["BENCH_SYMBOLS"]) if os.environ.get("BENCH_SYMBOLS") else None
    bars = load_universe(limit)
    rss_loaded = peak_rss_mb()
    t0 = time.perf_counter()
    if kind == "reference":
        pred = reference_run(bars, json.loads((tmp / "folds.json").read_text())).rename("expected_return")
        t_feat = None
    else:
        wf = WalkForwardConfig(horizon=HORIZON, train_bars=TRAIN, test_bars=TEST, validation_fraction=0.2)
        panel = make_panel(bars, feature_set("core"), HORIZON, label=LABEL)
        t_feat = time.perf_counter() - t0
        pred = run_panel_walkforward(panel, [kind], wf, use_ray=False)[kind].predictions["expected_return"]
    seconds = time.perf_counter() - t0
    pred.to_frame().to_parquet(tmp / f"{kind}.parquet")
    print(json.dumps({"seconds": seconds, "feature_seconds": t_feat, "peak_rss_mb": peak_rss_mb(),
                      "rss_after_load_mb": rss_loaded}))


def measured(kind: str, tmp: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(tmp)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    import tempfile

    from models.training.panel import date_splits, make_panel
    from pipelines.config import WalkForwardConfig
    from pipelines.features.catalog import feature_set
    from models.training.panel import SIGNALS
    from pipelines.evaluation.signal import analyse

    def _ic_stats(pred, realized, horizon):
        return analyse(pred, realized, horizon).summary()
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]))
        return 0
    limit = int(os.environ["BENCH_SYMBOLS"]) if os.environ.get("BENCH_SYMBOLS") else None
    models = os.environ.get("BENCH_MODELS", "lightgbm,xgboost").split(",")
    if not DATA.is_dir():
        print(json.dumps({"bench": "panel_walkforward", "error": f"no shared data at {DATA}"}))
        return 1
    bars = load_universe(limit)
    wf = WalkForwardConfig(horizon=HORIZON, train_bars=TRAIN, test_bars=TEST, validation_fraction=0.2)
    panel = make_panel(bars, feature_set("core"), HORIZON, label=LABEL)
    dates = panel.dates
    folds = [{"train": [str(d) for d in dates[f.train]], "test": [str(d) for d in dates[f.test]]}
             for f in date_splits(panel, wf)]
    common = {"symbols": len(bars), "train_dates": TRAIN, "test_dates": TEST, "horizon": HORIZON, "label": LABEL,
              "folds": len(folds), "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "folds.json").write_text(json.dumps(folds))
        ref = measured("reference", tmp)
        emit("reference_lightgbm_seconds", ref["seconds"], "s", features=20, **common)
        emit("reference_lightgbm_peak_rss", ref["peak_rss_mb"], "MB", rss_after_load_mb=round(ref["rss_after_load_mb"], 1),
             **common)
        runs = {}
        for m in models:
            runs[m] = measured(m, tmp)
            emit(f"panel_{m}_seconds", runs[m]["seconds"], "s", baseline=ref["seconds"],
                 ratio=runs[m]["seconds"] / ref["seconds"], feature_seconds=round(runs[m]["feature_seconds"], 2),
                 features=panel.X.shape[1], rows=len(panel), **common)
            emit(f"panel_{m}_peak_rss", runs[m]["peak_rss_mb"], "MB", baseline=ref["peak_rss_mb"],
                 ratio=runs[m]["peak_rss_mb"] / ref["peak_rss_mb"],
                 rss_after_load_mb=round(runs[m]["rss_after_load_mb"], 1), **common)
        preds = {k: pd.read_parquet(tmp / f"{k}.parquet")["expected_return"] for k in ["reference", *models]}
    cells = preds[models[0]].index
    ref_stats = _ic_stats(preds["reference"].reindex(cells), panel.fwd.reindex(cells), HORIZON)
    emit("reference_lightgbm_rank_ic", ref_stats["rank_ic_mean"], "rank_ic", nw_t=round(ref_stats["rank_ic_nw_t"], 3),
         n_dates=ref_stats["days"], n_symbols=ref_stats["names"], **common)
    for m in models:
        s = _ic_stats(preds[m].reindex(cells), panel.fwd.reindex(cells), HORIZON)
        emit(f"panel_{m}_rank_ic", s["rank_ic_mean"], "rank_ic", baseline=ref_stats["rank_ic_mean"],
             ratio=s["rank_ic_mean"] / ref_stats["rank_ic_mean"] if ref_stats["rank_ic_mean"] else None,
             nw_t=round(s["rank_ic_nw_t"], 3), n_dates=s["days"], n_symbols=s["names"], **common)
    sig, fwd = panel.signals.reindex(cells), panel.fwd.reindex(cells)
    for b in SIGNALS:
        s = _ic_stats(sig[b], fwd, HORIZON)
        emit(f"baseline_{b}_rank_ic", s["rank_ic_mean"], "rank_ic", nw_t=round(s["rank_ic_nw_t"], 3),
             n_dates=s["days"], n_symbols=s["names"], **common)
    emit("panel_skipped_symbols", len(panel.skipped), "symbols", reasons=panel.skipped, **common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
