"""The model registry: model records in the store, artifacts on disk beside them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from pipelines.errors import ModelError
from pipelines.features.catalog import feature_hash
from pipelines.store.base import Store

STATUSES = ("candidate", "promoted", "retired")


@dataclass
class ModelRecord:
    model_id: str
    name: str
    kind: str
    config: dict[str, Any]
    config_hash: str
    features: list[str]
    symbols: list[str]
    timeframe: str
    horizon: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    metrics: dict[str, Any]
    artifact_path: str
    status: str = "candidate"
    created_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp(datetime.now(timezone.utc)))

    @property
    def feature_hash(self) -> str:
        return feature_hash(self.features)

    def to_row(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id, "name": self.name, "kind": self.kind,
            "created_at": self.created_at, "status": self.status,
            "config": json.dumps(self.config, sort_keys=True, default=str),
            "config_hash": self.config_hash, "features": json.dumps(self.features),
            "feature_hash": self.feature_hash, "symbols": json.dumps(self.symbols),
            "timeframe": self.timeframe, "horizon": self.horizon,
            "train_start": self.train_start, "train_end": self.train_end,
            "metrics": json.dumps(self.metrics, sort_keys=True, default=_json_default),
            "artifact_path": self.artifact_path,
        }

    @classmethod
    def from_row(cls, row: pd.Series) -> "ModelRecord":
        return cls(model_id=row["model_id"], name=row["name"], kind=row["kind"],
                   config=json.loads(row["config"]), config_hash=row["config_hash"],
                   features=json.loads(row["features"]), symbols=json.loads(row["symbols"]),
                   timeframe=row["timeframe"], horizon=int(row["horizon"]),
                   train_start=row["train_start"], train_end=row["train_end"],
                   metrics=json.loads(row["metrics"]), artifact_path=row["artifact_path"],
                   status=row["status"], created_at=row["created_at"])


def _json_default(o: Any) -> Any:
    if isinstance(o, float) and o != o:
        return None
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def register(store: Store, record: ModelRecord) -> ModelRecord:
    store.write("models", pd.DataFrame([record.to_row()]))
    return record


def list_models(store: Store, status: str | None = None) -> list[ModelRecord]:
    df = store.read("models", {"status": status} if status else None)
    return [ModelRecord.from_row(r) for _, r in df.iterrows()]


def get(store: Store, model_id: str) -> ModelRecord:
    df = store.read("models", {"model_id": model_id})
    if df.empty:
        raise ModelError(f"no model {model_id!r} in the registry: see `meridian models list`")
    return ModelRecord.from_row(df.iloc[0])


@dataclass(frozen=True)
class PromotionGate:
    """What a model's out-of-sample evidence must show to be promoted: a deflated Sharpe ratio of
    at least ``min_dsr`` for a single-symbol model, both of its returns and of its returns in
    excess of buy-and-hold's (so that riding the drift does not pass), a rank-IC Newey-West t across symbols of at
    least ``min_rank_ic_t`` for a panel (cross-sectional) model."""

    min_dsr: float = 0.95
    min_rank_ic_t: float = 2.0


def is_panel(rec: ModelRecord) -> bool:
    """A model that scores several symbols at once (judged on the cross-section)."""
    return rec.kind == "panel" or len(rec.symbols) > 1


def refusal(rec: ModelRecord, gate: PromotionGate) -> str | None:
    """Why ``rec`` may not be promoted under ``gate`` (one line), or None when its evidence passes."""
    m = rec.metrics or {}
    if is_panel(rec):
        t = (m.get("signal") or {}).get("rank_ic_nw_t")
        if t is None:
            return (f"{rec.model_id} has no out-of-sample cross-sectional evidence (rank-IC Newey-West t): "
                    f"evaluate it on five or more symbols first")
        if not t >= gate.min_rank_ic_t:
            return f"{rec.model_id}: rank-IC Newey-West t {t:.2f} < {gate.min_rank_ic_t:g} (models.promote_min_rank_ic_t)"
        return None
    for key, what in (("strategy_dsr", "deflated Sharpe ratio"),
                      ("strategy_excess_dsr", "deflated Sharpe ratio in excess of buy-and-hold")):
        dsr = m.get(key)
        if dsr is None or dsr != dsr:
            return f"{rec.model_id} has no out-of-sample evidence ({what}): run a walk-forward first"
        if not dsr >= gate.min_dsr:
            return f"{rec.model_id}: {what} {dsr:.3f} < {gate.min_dsr:g} (models.promote_min_dsr)"
    return None


class PromotionRefused(ModelError):
    """A model's out-of-sample evidence fails the promotion gate."""


def promote(store: Store, model_id: str, gate: PromotionGate | None = None, *,
            force_reason: str | None = None, who: str | None = None) -> ModelRecord:
    """Promote one model; others of the same name, symbols, timeframe and horizon are retired.
    With a ``gate``, a model whose evidence fails it is refused (:class:`PromotionRefused`)
    unless ``force_reason`` is given: then the override (who, when, why, and what the gate
    said) is recorded in the model's metrics under ``promotion``."""
    rec = get(store, model_id)
    if gate is not None:
        why = refusal(rec, gate)
        if why and not force_reason:
            raise PromotionRefused(f"refused: {why}; pass --force --reason TEXT to override")
        if why or force_reason:
            import getpass
            rec.metrics = {**(rec.metrics or {}), "promotion": {
                "forced": bool(why), "reason": force_reason, "gate": why,
                "by": who or getpass.getuser(), "at": datetime.now(timezone.utc).isoformat()}}
    for other in list_models(store, "promoted"):
        if (other.model_id != rec.model_id and other.name == rec.name and other.symbols == rec.symbols
                and other.timeframe == rec.timeframe and other.horizon == rec.horizon):
            other.status = "retired"
            register(store, other)
    rec.status = "promoted"
    return register(store, rec)
