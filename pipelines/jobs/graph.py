"""Train the correlation-graph forecaster on a universe of symbols from the store and judge it out
of sample next to a per-symbol ridge regression on the same features (the node-only baseline).

Every symbol gets the configured feature set plus, with three or more symbols, the universe stage
(cross-sectional Alpha101 factors and ranks), and its forward return over ``horizon`` bars; the
panel is the timestamps all symbols share with every feature known. The first ``train_frac`` of those rows train, less the
last ``horizon`` rows whose labels reach into the test period (purged); the graph and the scalers
come from the training rows only. Reported per symbol and pooled: the information coefficient
(Pearson and rank) of the predicted against the realised return, its t statistic, and the hit
rate. The model is recorded in the registry as kind ``graph-forecaster``.

    python -m pipelines.jobs.graph --symbols AAPL,MSFT,JPM,XOM --timeframe 1d [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipelines.trading.strategy import cost_model_of
from pipelines.config import MeridianConfig, load_config
from pipelines.errors import ConfigError, DataError
from pipelines.evaluation.signal import MIN_NAMES
from pipelines.evaluation.verdict import judge
from pipelines.store.base import Store

KIND = "graph-forecaster"


def oos_scores(pred: pd.Series, actual: pd.Series) -> dict[str, float]:
    """Time-series IC (Pearson), rank IC, the IC's t statistic (independent rows assumed) and the
    hit rate of ``pred`` against ``actual``. The cross-sectional IC, day by day across symbols, is
    the signal analysis (:mod:`pipelines.evaluation.signal`)."""
    from pipelines.evaluation.metrics import information_coefficient, rank_ic
    df = pd.concat([pred, actual], axis=1).dropna()
    n = len(df)
    if n < 3 or df.iloc[:, 0].std() == 0 or df.iloc[:, 1].std() == 0:
        return {"n": n, "ic": float("nan"), "rank_ic": float("nan"), "t": float("nan"), "hit_rate": float("nan")}
    ic = information_coefficient(df.iloc[:, 0], df.iloc[:, 1])
    ric = rank_ic(df.iloc[:, 0], df.iloc[:, 1])
    t = ic * np.sqrt((n - 2) / max(1e-12, 1 - ic * ic))
    hit = float((np.sign(df.iloc[:, 0]) == np.sign(df.iloc[:, 1])).mean())
    return {"n": n, "ic": ic, "rank_ic": ric, "t": float(t), "hit_rate": hit}


def _ridge_baseline(X_tr: pd.DataFrame, y_tr: pd.Series, X_te: pd.DataFrame) -> pd.Series:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    m = make_pipeline(StandardScaler(), Ridge(alpha=10.0)).fit(X_tr.to_numpy(), y_tr.to_numpy())
    return pd.Series(m.predict(X_te.to_numpy()), index=X_te.index)


def run(cfg: MeridianConfig, store: Store, *, symbols: list[str], timeframe: str | None = None,
        horizon: int = 1, train_frac: float = 0.7, params: dict[str, Any] | None = None,
        universe: bool = True, progress: bool = True) -> dict[str, Any]:
    from models.graph.gnn import GraphForecaster
    from models.registry import ModelRecord, register
    symbols = list(dict.fromkeys(s.strip() for s in symbols if s.strip()))
    if len(symbols) < 2:
        raise ConfigError("the graph forecaster needs two or more symbols (--symbols A,B,...)")
    if horizon < 1 or not 0 < train_frac < 1:
        raise ConfigError("horizon must be >= 1 and train_frac in (0, 1)")
    from models.training.dataset import make_dataset, universe_datasets
    from pipelines.features.catalog import feature_set
    from pipelines.features.universe import MIN_SYMBOLS
    from pipelines.jobs.train import universe_bars
    bars = universe_bars(store, symbols, timeframe)
    specs = feature_set(cfg.features.feature_set)
    xs_cols: list[str] = []
    if universe and len(symbols) >= MIN_SYMBOLS:
        data, xs_cols = universe_datasets(bars, specs, horizon)
    else:
        it = tqdm(symbols, desc="features", unit="symbol") if progress else symbols
        data = {s: make_dataset(bars[s], specs, horizon) for s in it}
    idx = data[symbols[0]].X.index
    for d in data.values():
        # rows where every feature (universe columns included) is known
        idx = idx.intersection(d.X.index[np.isfinite(d.X.to_numpy(dtype="float64")).all(axis=1)])
    idx = idx.sort_values()
    n = len(idx)
    train_end = int(n * train_frac)
    fit_end = train_end - horizon            # purge: these labels end inside the test period
    p = {"corr_window": min(60, max(10, fit_end // 4)), **(params or {})}
    from models.graph.gnn import DEFAULTS
    for k, v in p.items():
        if k in DEFAULTS and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ConfigError(f"graph parameter {k} must be a number, got {v!r}")
    if fit_end < max(30, p["corr_window"]) or n - train_end < 20:
        raise DataError(f"{n} timestamps shared by {', '.join(symbols)}: too few to train ({fit_end}) "
                        f"and test ({n - train_end})")
    X = {s: d.X.loc[idx] for s, d in data.items()}
    y = {s: d.y.loc[idx] for s, d in data.items()}
    tr, te = idx[:fit_end], idx[train_end:]
    model = GraphForecaster(**p).fit({s: X[s].loc[tr] for s in symbols}, {s: y[s].loc[tr] for s in symbols})
    pred = model.predict({s: X[s].loc[te] for s in symbols})

    per_symbol, pooled_p, pooled_b, pooled_y = {}, [], [], []
    for s in symbols:
        base = _ridge_baseline(X[s].loc[tr], y[s].loc[tr], X[s].loc[te])
        actual = y[s].loc[te]
        per_symbol[s] = {"gnn": oos_scores(pred[s]["expected_return"], actual), "ridge": oos_scores(base, actual)}
        pooled_p.append(pred[s]["expected_return"])
        pooled_b.append(base)
        pooled_y.append(actual)
    # pooled over symbols: IC on each symbol's demeaned series (a level difference is not skill),
    # hit rate on the raw directions
    def _cat(parts, demean=True):
        return pd.concat([q - q.mean() if demean else q for q in parts], ignore_index=True)

    def _pooled(pred):
        out = oos_scores(_cat(pred), _cat(pooled_y))
        out["hit_rate"] = oos_scores(_cat(pred, False), _cat(pooled_y, False))["hit_rate"]
        return out
    pooled = {"gnn": _pooled(pooled_p), "ridge": _pooled(pooled_b)}
    signal = None
    if len(symbols) >= MIN_NAMES:
        # the cross-section, day by day: what the gnn is judged (and promoted) by
        from pipelines.evaluation.runs import finite
        from pipelines.jobs.train import signal_report
        panel = {s: {"gnn": pd.DataFrame({"expected_return": pred[s]["expected_return"], "realized_return": y[s].loc[te]}),
                     "ridge": pd.DataFrame({"expected_return": p_b, "realized_return": y[s].loc[te]})}
                 for s, p_b in zip(symbols, pooled_b)}
        closes = {s: bars[s].set_index("ts")["close"] for s in symbols}
        signal = signal_report(panel, closes, horizon, cost_model_of(cfg))
        signal = finite(signal)
        judge([{"horizon": horizon, "symbols": {}, "signal": signal}])
    edges = int((np.triu(model.adj_, 1) > 0).sum())

    tf = str(bars[symbols[0]]["timeframe"].iloc[0])
    config = {"symbols": symbols, "timeframe": tf, "horizon": horizon, "train_frac": train_frac, "params": p,
              "feature_set": cfg.features.feature_set, "universe_columns": xs_cols}
    # the data window is part of the identity: a retrain on newer bars is a new model, never an
    # overwrite of one that may be promoted
    config_hash = hashlib.sha256(json.dumps({**config, "train": [tr[0].isoformat(), tr[-1].isoformat()]},
                                            sort_keys=True).encode()).hexdigest()[:16]
    model_id = f"gnn-{len(symbols)}sym-{tf}-h{horizon}-{config_hash[:8]}"
    dest = (cfg.models_dir / model_id).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    model.save(dest)
    metrics = {"pooled": pooled, "per_symbol": per_symbol, "edges": edges, "test_rows": int(len(te)),
               "test_start": te[0].isoformat(), "test_end": te[-1].isoformat()}
    if signal:
        metrics["signal"] = {k: v for k, v in signal["models"]["gnn"].items() if k != "series"}
    rec = register(store, ModelRecord(
        model_id=model_id, name="gnn", kind=KIND, config=config, config_hash=config_hash,
        features=list(X[symbols[0]].columns), symbols=symbols, timeframe=tf, horizon=horizon,
        train_start=tr[0], train_end=tr[-1], metrics=metrics, artifact_path=str(dest)))
    return {"model_id": rec.model_id, "symbols": symbols, "timeframe": tf, "horizon": horizon,
            "train_rows": int(len(tr)), "purged_rows": horizon, "test_rows": int(len(te)),
            "test_start": te[0].isoformat(), "test_end": te[-1].isoformat(), "edges": edges,
            "universe_columns": xs_cols,
            "pooled": pooled, "per_symbol": per_symbol, "artifact_path": str(dest),
            **({"signal": signal} if signal else {})}


def summary(out: dict[str, Any]) -> str:
    lines = [f"gnn over {len(out['symbols'])} symbols ({out['timeframe']}, h={out['horizon']}): "
             f"{out['edges']} graph edges, trained on {out['train_rows']} rows, tested on {out['test_rows']} "
             f"({out['test_start'][:10]} .. {out['test_end'][:10]})",
             f"  {'':10s} {'gnn IC':>8s} {'t':>6s} {'hit':>6s}   {'ridge IC':>8s} {'t':>6s} {'hit':>6s}"]
    rows = [("pooled", out["pooled"])] + list(out["per_symbol"].items())
    for name, r in rows:
        g, b = r["gnn"], r["ridge"]
        lines.append(f"  {name:10s} {g['ic']:+8.3f} {g['t']:6.2f} {g['hit_rate']:6.1%}   "
                     f"{b['ic']:+8.3f} {b['t']:6.2f} {b['hit_rate']:6.1%}")
    if out.get("signal"):
        for kind, group in (("model", out["signal"]["models"]), ("baseline", out["signal"]["baselines"])):
            for name, sg in group.items():
                lines.append(f"  cross-section {kind:8s} {name:12s} rank ic {sg['rank_ic_mean'] or 0:+.4f} "
                             f"(NW t {sg['rank_ic_nw_t'] or 0:+.2f}, {sg['days']} days)"
                             + ("  EDGE" if kind == "model" and sg.get("has_edge") else ""))
    lines.append(f"  registered {out['model_id']} at {out['artifact_path']}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", required=True, help="comma-separated symbols in the store (two or more)")
    p.add_argument("--timeframe", help="bar timeframe when the symbols have several")
    p.add_argument("--horizon", type=int, default=1, help="bars ahead to predict")
    p.add_argument("--train-frac", type=float, default=0.7)
    p.add_argument("--no-universe", action="store_true",
                   help="leave out the universe stage (cross-sectional ranks; on with three or more symbols)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="graph model parameter (corr_window, threshold, hidden, epochs, lr, weight_decay, seed)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def execute(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.jobs.tune import parse_params
    from pipelines.store import open_store
    cfg = load_config(getattr(args, "config", None))
    store = open_store(cfg.store)
    try:
        return run(cfg, store, symbols=args.symbols.split(","), timeframe=args.timeframe, horizon=args.horizon,
                   train_frac=args.train_frac, params=parse_params(args.param), universe=not args.no_universe,
                   progress=not args.json)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    from pipelines.jobs import job_main
    return job_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
