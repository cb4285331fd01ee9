"""Panel walk-forward of the model zoo over a universe: one model per fold on every symbol's rows
(date x symbol), judged by the daily cross-sectional rank IC out of sample, next to 1-bar and
5-bar reversal and 20-bar momentum on the same cells.

    python -m pipelines.jobs.train --panel --symbols A,B,C --models lightgbm,xgboost [--label rank] [--json]
    meridian walkforward --panel --symbols A,B,C --models lightgbm,xgboost [--label rank] [--json]

Models and baselines are judged by the one signal analysis (:mod:`pipelines.evaluation.signal`)
and the run-wide verdict (rank-IC Newey-West t with lags = horizon, Holm-corrected). A recorded
run registers each model's last-fold fit (kind "panel", symbols = the universe) with that
evidence, so that ``meridian models promote`` applies the rank-IC t gate to it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.registry import ModelRecord, register
from models.training.panel import SIGNALS, PanelDataset, date_splits, make_panel
from models.training.panel_walkforward import PanelResult, run_panel_walkforward
from pipelines.config import MeridianConfig, WalkForwardConfig
from pipelines.errors import ConfigError
from pipelines.evaluation.runs import finite
from pipelines.evaluation.signal import analyse
from pipelines.jobs.train import _fmt, cost_summary, run_hash, windows
from pipelines.trading.strategy import cost_model_of
from pipelines.features.catalog import feature_set
from pipelines.store.base import Store

def signal_section(results: dict[str, PanelResult], panel: PanelDataset, horizon: int, cost_bps: float) -> dict:
    """Every model's signal analysis (:mod:`pipelines.evaluation.signal`: daily IC and rank IC,
    Newey-West t with lags = horizon, quantiles, long-short after costs, turnover) and the
    reversal and momentum baselines' on the same (ts, symbol) cells."""
    out: dict = {"models": {}, "baselines": {}}
    cells = None
    for res in results.values():
        idx = res.predictions["expected_return"].dropna().index
        cells = idx if cells is None else cells.intersection(idx)
    if cells is None:
        return out
    fwd = panel.fwd.reindex(cells)
    for m, res in results.items():
        a = analyse(res.predictions["expected_return"].reindex(cells), fwd, horizon, cost_bps)
        out["models"][m] = {**a.summary(), "series": a.series()}
    sig = panel.signals.reindex(cells)
    for name in SIGNALS:
        a = analyse(sig[name], fwd, horizon, cost_bps)
        out["baselines"][name] = {**a.summary(), "series": a.series()}
    out["cells"] = int(len(cells))
    return out


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
    wf = windows(cfg.walkforward, tf, ac, retrain_every, keep)
    panel = make_panel(bars, feature_set(cfg.features.feature_set), wf.horizon, label=label, min_rows=min_rows,
                       store_dtype=cfg.features.store_dtype)
    panel.skipped = {**(skipped or {}), **panel.skipped}
    t_feat = time.time() - t0
    results = run_panel_walkforward(panel, models, wf, dict(cfg.models.params), use_ray=use_ray,
                                    use_gpu=cfg.models.use_gpu)
    report: dict = {"mode": "panel", "timeframe": tf, "horizon": wf.horizon, "label": label,
                    "feature_set": cfg.features.feature_set, "features": list(panel.X.columns),
                    "normalisation": "cross-sectional rank per date in [-0.5, 0.5]",
                    "walkforward": wf.model_dump(mode="json"), "rows": len(panel),
                    "dates": len(panel.dates), "symbols": {}, "universe": panel.symbols, "skipped": panel.skipped,
                    "folds": len(date_splits(panel, wf)), "costs": cost_summary(cost_model_of(cfg))}
    report["signal"] = signal_section(results, panel, wf.horizon, report["costs"]["per_side_bps"])
    report["best"] = _best(report["signal"])
    report["seconds"] = {"features": round(t_feat, 1), "total": round(time.time() - t0, 1)}
    return finite(report), results, panel


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


def save_panel_models(cfg: MeridianConfig, report: dict, results: dict[str, PanelResult],
                      run_id: str | None = None, models_dir: str | Path | None = None) -> dict[str, ModelRecord]:
    """Each model's last-fold fit (the most recent training dates of the walk-forward) saved as a
    self-describing artifact under ``models_dir`` (default ``cfg.models_dir``), and its record,
    kind "panel", not registered yet: its metrics come from the run-wide verdict
    (:func:`register_panel_models`). The record's symbols are the universe it was trained on and
    its features the ranked columns, in order; serving rebuilds them per date with the same code."""
    wf, tf, h = report["walkforward"], report["timeframe"], int(report["horizon"])
    universe = list(report["universe"])
    wcfg = WalkForwardConfig.model_validate(wf)
    out = {}
    for m, res in results.items():
        if res.final_model is None:
            continue
        params = dict(cfg.models.params.get(m, {}))
        chash = run_hash(m, wcfg, {**params, "label": report["label"]}, cfg.features.feature_set,
                         ",".join(universe), tf)
        model_id = f"{m}-panel{len(universe)}-{tf}-h{h}-{chash[:8]}"
        artifact = res.final_model.save(Path(models_dir or cfg.models_dir) / model_id)
        last = res.folds[-1]
        out[m] = ModelRecord(
            model_id=model_id, name=m, kind="panel",
            config={"params": params, "walkforward": wf, "feature_set": report["feature_set"],
                    "label": report["label"], "normalisation": report["normalisation"],
                    **({"run_id": run_id} if run_id else {})},
            config_hash=chash, features=list(report["features"]), symbols=universe, timeframe=tf, horizon=h,
            train_start=pd.Timestamp(last["train_start"]), train_end=pd.Timestamp(last["train_end"]),
            metrics={}, artifact_path=str(artifact))
    return out


def register_panel_models(store: Store, report: dict, records: dict[str, ModelRecord]) -> list[str]:
    """Register each saved panel model with the run's panel evidence as its metrics: the model's
    signal analysis (rank IC mean, its Newey-West t, which the promotion gate reads, quantiles,
    long-short) and the run-wide verdict. Call after :func:`pipelines.evaluation.verdict.judge`."""
    verdict = {k: v for k, v in (report.get("verdict") or {}).items() if k != "explain"}
    for m, rec in records.items():
        sig = {k: v for k, v in (report["signal"]["models"].get(m) or {}).items() if k != "series"}
        rec.metrics = {"signal": sig, "verdict": verdict, "label": report["label"],
                       "test_start": sig.get("test_start"), "test_end": sig.get("test_end")}
        register(store, rec)
    return [r.model_id for r in records.values()]


def _best(signal: dict) -> dict:
    def top(d: dict):
        ok = {k: v for k, v in d.items() if np.isfinite(v.get("rank_ic_mean", np.nan))}
        return max(ok, key=lambda k: ok[k]["rank_ic_mean"]) if ok else None
    m, b = top(signal["models"]), top(signal["baselines"])
    return {"model": m, "baseline": b,
            "model_beats_baseline": (m is not None and b is not None and
                                     signal["models"][m]["rank_ic_mean"] > signal["baselines"][b]["rank_ic_mean"])}


def summary_lines(report: dict) -> list[str]:
    head = (f"panel {report['timeframe']} h={report['horizon']} label={report['label']}: "
            f"{len(report['universe'])} symbols, {report['dates']} dates, {report['rows']} rows, "
            f"{report['folds']} folds, costs {report['costs']['per_side_bps']:g} bps per side")
    lines = [head]
    for kind in ("models", "baselines"):
        for name, s in report["signal"][kind].items():
            lines.append(f"  {kind[:-1]:8s} {name:14s} rank IC {_fmt(s.get('rank_ic_mean'), '+.4f')}  "
                         f"NW t {_fmt(s.get('rank_ic_nw_t'), '+.2f')}  days {s.get('days')}  "
                         f"long-short net {_fmt(s.get('long_short_net_total'), '+.3f')}"
                         + ("  EDGE" if kind == "models" and s.get("has_edge") else ""))
    for sym, why in report["skipped"].items():
        lines.append(f"  skipped  {sym}: {why}")
    for name, mid in (report.get("model_ids") or {}).items():
        lines.append(f"  registered {name}: {mid} (meridian models promote {mid})")
    lines.extend((report.get("verdict") or {}).get("explain", []))
    return lines
