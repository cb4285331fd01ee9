"""Panel walk-forward of the model zoo over a universe: one model per fold on every symbol's rows
(date x symbol), judged by the daily cross-sectional rank IC out of sample, next to 1-bar and
5-bar reversal and 20-bar momentum on the same cells.

    python -m pipelines.jobs.train --panel --symbols A,B,C --models lightgbm,xgboost [--label rank] [--json]
    meridian walkforward --panel --symbols A,B,C --models lightgbm,xgboost [--label rank] [--json]

The IC here is deliberately minimal (``_daily_rank_ic``, ``_newey_west_t``): the per-date
Spearman correlation across symbols and a Newey-West t of its mean with ``lags >= horizon``
(overlapping labels), to be replaced by the evaluation layer's signal analysis when it lands.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from models.training.panel import SIGNALS, PanelDataset, date_splits, make_panel
from models.training.panel_walkforward import PanelResult, run_panel_walkforward
from pipelines.config import MeridianConfig, WalkForwardConfig
from pipelines.errors import ConfigError
from pipelines.features.registry import feature_set
from pipelines.store.base import Store

MIN_SYMBOLS_PER_DATE = 5  # a date's rank IC needs at least this many symbols


def _daily_rank_ic(pred: pd.Series, realized: pd.Series, min_symbols: int = MIN_SYMBOLS_PER_DATE) -> pd.Series:
    """Spearman correlation across symbols, per date (index level ``ts``); dates with fewer than
    ``min_symbols`` symbols or no spread are left out."""
    df = pd.DataFrame({"p": pred, "r": realized}).dropna()
    g = df.groupby(level="ts")
    n = g["p"].transform("count")
    df = df[n >= min_symbols]
    g = df.groupby(level="ts")
    ranks = g.rank(method="average")
    dev = ranks - ranks.groupby(level="ts").transform("mean")
    sums = pd.DataFrame({"pr": dev["p"] * dev["r"], "pp": dev["p"] ** 2, "rr": dev["r"] ** 2}).groupby(level="ts").sum()
    ic = sums["pr"] / np.sqrt(sums["pp"] * sums["rr"])
    return ic.replace([np.inf, -np.inf], np.nan).dropna().rename("rank_ic")


def _newey_west_t(x: pd.Series, lags: int) -> float:
    """t statistic of the mean of ``x`` with a Newey-West (Bartlett) standard error."""
    v = np.asarray(x, dtype="float64")
    v = v[np.isfinite(v)]
    T = len(v)
    if T < 3:
        return float("nan")
    e = v - v.mean()
    var = e @ e / T
    for lag in range(1, min(lags, T - 1) + 1):
        var += 2 * (1 - lag / (lags + 1)) * (e[lag:] @ e[:-lag]) / T
    return float(v.mean() / np.sqrt(var / T)) if var > 0 else float("nan")


def _ic_stats(pred: pd.Series, realized: pd.Series, horizon: int) -> dict:
    ic = _daily_rank_ic(pred, realized)
    lags = max(1, horizon)
    syms = pred.dropna().index.get_level_values("symbol").nunique()
    return {"mean_rank_ic": float(ic.mean()) if len(ic) else None,
            "ic_std": float(ic.std()) if len(ic) > 1 else None,
            "nw_t": _newey_west_t(ic, lags), "nw_lags": lags, "n_dates": len(ic), "n_symbols": int(syms)}


def load_panel_bars(store: Store, symbols: list[str], timeframe: str | None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Each symbol's bars in one timeframe; symbols without such bars are skipped with the reason."""
    series = store.bar_series()
    syms = list(dict.fromkeys(symbols))
    if timeframe is None:
        tfs = sorted(series.loc[series["symbol"].isin(syms), "timeframe"].unique())
        if len(tfs) > 1:
            raise ConfigError(f"the symbols have bars in several timeframes ({', '.join(tfs)}): pass --timeframe")
        if not tfs:
            raise ConfigError(f"none of {', '.join(syms)} has bars in the store: load some with `meridian import`")
        timeframe = tfs[0]
    have = set(series.loc[series["timeframe"] == timeframe, "symbol"])
    bars, skipped = {}, {}
    for s in syms:
        if s not in have:
            skipped[s] = f"no {timeframe} bars in the store"
            continue
        bars[s] = store.read("bars", {"symbol": s, "timeframe": timeframe}).sort_values("ts").reset_index(drop=True)
    return bars, skipped


def panel_windows(wf: WalkForwardConfig, timeframe: str, asset_class: str, retrain_every: str | None,
                  keep: str | None) -> WalkForwardConfig:
    """``retrain_every`` / ``keep`` (dates, or spans such as 6M, 2y) as the test and train windows."""
    from pipelines.times import span_bars
    update = {}
    try:
        if retrain_every is not None:
            update["test_bars"] = span_bars(retrain_every, timeframe, asset_class)
        if keep is not None:
            update["train_bars"] = span_bars(keep, timeframe, asset_class)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return WalkForwardConfig.model_validate({**wf.model_dump(), **update}) if update else wf


def evaluate_panel(cfg: MeridianConfig, bars: dict[str, pd.DataFrame], models: list[str], *,
                   label: str = "fwd", use_ray: bool = True, retrain_every: str | None = None,
                   keep: str | None = None, skipped: dict[str, str] | None = None,
                   min_rows: int = 60) -> tuple[dict, dict[str, PanelResult], PanelDataset]:
    """The report (JSON-ready), each model's out-of-sample predictions, and the panel."""
    from models.zoo import model_class
    for m in models:
        model_class(m)  # unknown names fail before any work
    t0 = time.time()
    first = next(iter(bars.values()))
    tf, ac = str(first["timeframe"].iloc[0]), str(first["asset_class"].iloc[0])
    wf = panel_windows(cfg.walkforward, tf, ac, retrain_every, keep)
    panel = make_panel(bars, feature_set(cfg.features.feature_set), wf.horizon, label=label, min_rows=min_rows)
    panel.skipped = {**(skipped or {}), **panel.skipped}
    t_feat = time.time() - t0
    results = run_panel_walkforward(panel, models, wf, dict(cfg.models.params), use_ray=use_ray,
                                    use_gpu=cfg.models.use_gpu)
    report: dict = {"mode": "panel", "timeframe": tf, "horizon": wf.horizon, "label": label,
                    "feature_set": cfg.features.feature_set, "features": list(panel.X.columns),
                    "normalisation": "cross-sectional rank per date in [-0.5, 0.5]",
                    "walkforward": wf.model_dump(mode="json"), "rows": len(panel),
                    "dates": len(panel.dates), "symbols": panel.symbols, "skipped": panel.skipped,
                    "folds": len(date_splits(panel, wf)), "models": {}, "baselines": {}}
    cells = None
    for m, res in results.items():
        p = res.predictions
        report["models"][m] = {**_ic_stats(p["expected_return"], p["fwd_return"], wf.horizon),
                               "skipped": panel.skipped}
        cells = p.index if cells is None else cells.intersection(p.index)
    if cells is not None:
        sig, fwd = panel.signals.reindex(cells), panel.fwd.reindex(cells)
        for s in SIGNALS:
            report["baselines"][s] = _ic_stats(sig[s], fwd, wf.horizon)
    report["best"] = _best(report)
    report["seconds"] = {"features": round(t_feat, 1), "total": round(time.time() - t0, 1)}
    return _finite(report), results, panel


def run_panel(cfg: MeridianConfig, store: Store, symbols: list[str], models: list[str], *,
              timeframe: str | None = None, label: str = "fwd", use_ray: bool = True,
              retrain_every: str | None = None, keep: str | None = None) -> dict:
    """The panel walk-forward report over these symbols' bars in the store."""
    bars, skipped = load_panel_bars(store, symbols, timeframe)
    if not bars:
        raise ConfigError(f"none of {', '.join(symbols)} has bars in the store")
    report, _, _ = evaluate_panel(cfg, bars, models, label=label, use_ray=use_ray,
                                  retrain_every=retrain_every, keep=keep, skipped=skipped)
    return report


def _best(report: dict) -> dict:
    def top(d: dict):
        ok = {k: v for k, v in d.items() if v.get("mean_rank_ic") is not None}
        return max(ok, key=lambda k: ok[k]["mean_rank_ic"]) if ok else None
    m, b = top(report["models"]), top(report["baselines"])
    return {"model": m, "baseline": b,
            "model_beats_baseline": (m is not None and b is not None and
                                     report["models"][m]["mean_rank_ic"] > report["baselines"][b]["mean_rank_ic"])}


def _finite(obj):
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def summary_lines(report: dict) -> list[str]:
    head = (f"panel {report['timeframe']} h={report['horizon']} label={report['label']}: "
            f"{len(report['symbols'])} symbols, {report['dates']} dates, {report['rows']} rows, "
            f"{report['folds']} folds")
    lines = [head]
    for kind in ("models", "baselines"):
        for name, s in report[kind].items():
            ic, t = s["mean_rank_ic"], s["nw_t"]
            lines.append(f"  {kind[:-1]:8s} {name:14s} rank IC {'n/a' if ic is None else format(ic, '+.4f')}  "
                         f"NW t {'n/a' if t is None else format(t, '+.2f')}  dates {s['n_dates']}")
    for sym, why in report["skipped"].items():
        lines.append(f"  skipped  {sym}: {why}")
    return lines


def main_panel(args: argparse.Namespace) -> int:
    """``python -m pipelines.jobs.train --panel ...``: the parsed arguments of the train job."""
    import ray

    from cluster.runtime import init_ray, shutdown_ray
    from pipelines.config import load_config
    from pipelines.store import open_store
    over = {"walkforward": {"horizon": args.horizon}} if args.horizon else None
    cfg = load_config(args.config, overrides=over)
    models = args.models.split(",") if args.models else list(cfg.models.names)
    started = not ray.is_initialized()
    init_ray(cfg.ray)
    store = open_store(cfg.store)
    try:
        out = run_panel(cfg, store, [s for s in args.symbols.split(",") if s], models, timeframe=args.timeframe,
                        label=args.label, retrain_every=args.retrain_every, keep=args.keep)
    finally:
        store.close()
        if started:
            shutdown_ray()
    print(json.dumps(out, default=str) if args.json else "\n".join(summary_lines(out)))
    return 0
