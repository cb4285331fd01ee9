"""Runs are records: every walk-forward is a run with an id, kept in the store.

A run holds the resolved configuration and its hash, digests of the bars and of the feature set
it used, the code version, its status (``running``, ``done``, ``failed`` with the reason), the
report (metrics, signal analysis, verdicts) and, in ``run_predictions``, every out-of-sample
prediction keyed by (run, model, horizon, symbol, ts). Everything a user sees of a run (the text
summary, the HTML report, ``metrics.json``, comparisons, exported predictions) is rebuilt from
these records, never from a terminal.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.schema import RUN_PREDICTIONS
from pipelines.store.base import Store
from pipelines.times import utc_now

STATUSES = ("running", "done", "failed")
PREDICTION_COLUMNS = ("ts", "symbol", "model", "horizon", "prediction", "realized")


def code_version() -> str:
    """The installed Meridian version (the feature definitions' own version is in the digests)."""
    try:
        return metadata.version("meridian")
    except metadata.PackageNotFoundError:  # a checkout that is not installed
        return "unknown"


def bars_digest(bars: pd.DataFrame) -> str:
    """A short hash of a series' bars (times and prices), so a run says exactly what it saw."""
    cols = [c for c in ("ts", "open", "high", "low", "close", "volume") if c in bars.columns]
    h = pd.util.hash_pandas_object(bars[cols].reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(h.tobytes()).hexdigest()[:16]


def new_run_id(now: pd.Timestamp | None = None) -> str:
    now = now or utc_now()
    return f"run-{now.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=_default, allow_nan=False)


def _default(o: Any) -> Any:
    if isinstance(o, (np.floating, float)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


def finite(obj: Any) -> Any:
    """Strict JSON: NaN and infinities become None, NumPy scalars Python ones, tuples lists."""
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


@dataclass
class RunRecord:
    run_id: str
    kind: str
    status: str
    config: dict[str, Any]
    config_hash: str
    symbols: list[str]
    models: list[str]
    horizons: list[int]
    digests: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    code_version: str = field(default_factory=code_version)
    created_at: pd.Timestamp = field(default_factory=utc_now)
    finished_at: pd.Timestamp | None = None

    def to_row(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "status": self.status, "reason": self.reason,
                "created_at": self.created_at, "finished_at": self.finished_at,
                "config": _json(finite(self.config)), "config_hash": self.config_hash,
                "code_version": self.code_version, "digests": _json(finite(self.digests)),
                "symbols": _json(self.symbols), "models": _json(self.models), "horizons": _json(self.horizons),
                "report": _json(finite(self.report))}

    @classmethod
    def from_row(cls, row: pd.Series) -> "RunRecord":
        fin = row["finished_at"]
        return cls(run_id=str(row["run_id"]), kind=str(row["kind"]), status=str(row["status"]),
                   reason=None if pd.isna(row["reason"]) else str(row["reason"]),
                   config=json.loads(row["config"]), config_hash=str(row["config_hash"]),
                   code_version=str(row["code_version"]), digests=json.loads(row["digests"]),
                   symbols=json.loads(row["symbols"]), models=json.loads(row["models"]),
                   horizons=json.loads(row["horizons"]), report=json.loads(row["report"]),
                   created_at=pd.Timestamp(row["created_at"]), finished_at=None if pd.isna(fin) else pd.Timestamp(fin))

    def summary(self) -> dict[str, Any]:
        """The line ``runs list`` shows."""
        return {"run_id": self.run_id, "kind": self.kind, "status": self.status, "reason": self.reason,
                "created_at": self.created_at.isoformat(),
                "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
                "symbols": len(self.symbols), "models": self.models, "horizons": self.horizons,
                "config_hash": self.config_hash}


def save(store: Store, rec: RunRecord) -> RunRecord:
    store.write("runs", pd.DataFrame([rec.to_row()]))
    return rec


def start(store: Store, *, kind: str, config: dict[str, Any], config_hash: str, symbols: list[str],
          models: list[str], horizons: list[int], run_id: str | None = None) -> RunRecord:
    """A new run, recorded as ``running`` before any work, so a crash still leaves its trace."""
    return save(store, RunRecord(run_id=run_id or new_run_id(), kind=kind, status="running", config=config,
                                 config_hash=config_hash, symbols=list(symbols), models=list(models),
                                 horizons=[int(h) for h in horizons]))


def finish(store: Store, rec: RunRecord, report: dict[str, Any], digests: dict[str, Any]) -> RunRecord:
    rec.status, rec.report, rec.digests, rec.finished_at = "done", report, digests, utc_now()
    return save(store, rec)


def fail(store: Store, rec: RunRecord, reason: str) -> RunRecord:
    rec.status, rec.reason, rec.finished_at = "failed", reason, utc_now()
    return save(store, rec)


def record_predictions(store: Store, run_id: str, model: str, horizon: int, symbol: str | None, timeframe: str,
                       preds: pd.DataFrame) -> int:
    """``preds`` with expected_return, prob_up, realized_return (or fwd_return) and fold, indexed
    by ts for one ``symbol``, or by (ts, symbol) for a panel (``symbol`` None)."""
    flat = preds.reset_index()
    realized = preds["realized_return"] if "realized_return" in preds else preds["fwd_return"]
    out = pd.DataFrame({
        "run_id": run_id, "model": model, "horizon": int(horizon),
        "symbol": flat["symbol"].to_numpy() if symbol is None else symbol,
        "ts": flat["ts"].to_numpy() if "ts" in flat else flat.iloc[:, 0].to_numpy(), "timeframe": timeframe,
        "fold": preds["fold"].to_numpy() if "fold" in preds else None,
        "prediction": preds["expected_return"].to_numpy(),
        "prob_up": preds["prob_up"].to_numpy() if "prob_up" in preds else None,
        "realized": realized.to_numpy()})
    return store.write("run_predictions", out[RUN_PREDICTIONS.columns])


def get(store: Store, run_id: str) -> RunRecord:
    df = store.read("runs", {"run_id": run_id})
    if df.empty:
        raise DataError(f"no run {run_id!r}: see `meridian runs list`")
    return RunRecord.from_row(df.iloc[0])


def list_runs(store: Store, status: str | None = None) -> list[RunRecord]:
    df = store.read("runs", {"status": status} if status else None)
    recs = [RunRecord.from_row(r) for _, r in df.iterrows()]
    return sorted(recs, key=lambda r: r.created_at, reverse=True)


def predictions(store: Store, run_id: str, model: str | None = None, horizon: int | None = None) -> pd.DataFrame:
    """The run's out-of-sample predictions: ts, symbol, model, horizon, prediction, realized."""
    get(store, run_id)
    where: dict[str, Any] = {"run_id": run_id}
    if model is not None:
        where["model"] = model
    if horizon is not None:
        where["horizon"] = int(horizon)
    df = store.read("run_predictions", where)
    out = df[list(PREDICTION_COLUMNS)].copy()
    out["horizon"] = out["horizon"].astype("int64")
    return out.sort_values(["model", "horizon", "symbol", "ts"]).reset_index(drop=True)


def compare(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """What differs between two runs: configuration keys, symbols, models, and each shared
    (model, horizon) cell's headline figures side by side."""
    def flat(d: dict, prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            out.update(flat(v, key + ".") if isinstance(v, dict) else {key: v})
        return out
    fa, fb = flat(a.config), flat(b.config)
    config = {k: [fa.get(k), fb.get(k)] for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)}
    ha, hb = headline(a), headline(b)
    cells = {k: {"a": ha[k], "b": hb[k]} for k in sorted(set(ha) & set(hb))}
    return {"a": a.run_id, "b": b.run_id, "config": config,
            "symbols": {"only_a": sorted(set(a.symbols) - set(b.symbols)),
                        "only_b": sorted(set(b.symbols) - set(a.symbols))},
            "models": {"only_a": sorted(set(a.models) - set(b.models)),
                       "only_b": sorted(set(b.models) - set(a.models))},
            "cells": cells}


HEADLINE = ("directional_accuracy", "ic", "rank_ic", "strategy_sharpe", "strategy_dsr",
            "rank_ic_mean", "rank_ic_nw_t")


def headline(rec: RunRecord) -> dict[str, dict[str, Any]]:
    """Per "model/h<horizon>": the mean of each headline figure over the run's symbols."""
    figs: dict[str, dict[str, list[float]]] = {}
    for h, rep in (rec.report.get("horizons") or {}).items():
        for sym in (rep.get("symbols") or {}).values():
            for group in ("models", "ensembles"):
                for name, m in (sym.get(group) or {}).items():
                    cell = figs.setdefault(f"{name}/h{h}", {})
                    for k in HEADLINE:
                        if isinstance(m.get(k), (int, float)):
                            cell.setdefault(k, []).append(float(m[k]))
        for name, m in ((rep.get("signal") or {}).get("models") or {}).items():   # across the symbols
            cell = figs.setdefault(f"{name}/h{h}", {})
            for k in ("rank_ic_mean", "rank_ic_nw_t"):
                if isinstance(m.get(k), (int, float)):
                    cell.setdefault(k, []).append(float(m[k]))
    return {cell: {k: float(np.mean(v)) for k, v in f.items()} for cell, f in figs.items()}
