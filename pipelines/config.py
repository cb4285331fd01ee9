"""Typed configuration: one frozen pydantic model per component, loaded from YAML, overridable
from the environment (``MERIDIAN__STORE__BACKEND=postgres``), and passed explicitly.

A run is identified by :func:`config_hash`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from pipelines.sentiment.config import SentimentConfig
from pipelines.trading.config import TradingLayerConfig
from pipelines.ingest.config import IngestConfig

ENV_PREFIX = "MERIDIAN__"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RayConfig(_Frozen):
    """How this process reaches Ray."""

    address: str | None = Field(None, description="Ray address; None starts a local Ray in-process")
    num_cpus: int | None = Field(2, description="CPUs for a local Ray (ignored when connecting)")
    num_gpus: int | None = Field(None, description="GPUs for a local Ray; None lets Ray detect")
    object_store_memory: int = Field(200_000_000, description="bytes for a local object store")
    include_dashboard: bool = Field(False, description="start the dashboard with a local Ray")
    temp_dir: str | None = Field(None, description="Ray's session folder for a local Ray")


class StoreConfig(_Frozen):
    """Where records live: the Parquet lake (default) or PostgreSQL."""

    backend: Literal["parquet", "postgres"] = "parquet"
    path: str = Field("data/lake", description="root folder of the Parquet lake")
    dsn: SecretStr | None = Field(None, description="PostgreSQL DSN (from MERIDIAN__STORE__DSN)")
    schema_name: str = Field("meridian", description="PostgreSQL schema holding the tables")


class FeatureConfig(_Frozen):
    """Which features the pipeline computes."""

    feature_set: str = Field("core", description="registry subset: 'core' or 'full'")
    store_path: str = Field("data/features", description="root folder of the feature store")


class WalkForwardConfig(_Frozen):
    """Time-ordered train/test folds with purge and embargo (all in bars)."""

    horizon: int = Field(1, gt=0, description="label horizon in bars")
    train_bars: int = Field(2000, gt=10, description="training window length (rolling)")
    test_bars: int = Field(500, gt=0, description="test window length; also the retrain step")
    purge_bars: int | None = Field(None, description="gap between train and test; default = horizon")
    embargo_bars: int = Field(0, ge=0, description="bars skipped after each test window")
    expanding: bool = Field(False, description="expanding instead of rolling training window")
    validation_fraction: float = Field(0.2, ge=0.0, lt=0.9, description="tail of train used for early stopping")


class ModelConfig(_Frozen):
    """Which forecasters run and with what parameters."""

    names: tuple[str, ...] = ("xgboost",)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    use_gpu: bool = Field(False, description="ask Ray for a GPU for models that want one, if present")
    promote_min_dsr: float = Field(
        0.95, ge=0, le=1, description="promotion gate: least out-of-sample deflated Sharpe ratio of a single-symbol model")
    promote_min_rank_ic_t: float = Field(
        2.0, description="promotion gate: least rank-IC Newey-West t across symbols of a panel (cross-sectional) model")


class TradingConfig(_Frozen):
    """Costs and the signal rule of the backtest."""

    fee_bps: float = Field(2.0, ge=0, description="fee per side, basis points of notional")
    spread_bps: float = Field(1.0, ge=0, description="full bid-ask spread; half paid per side")
    slippage_bps: float = Field(1.0, ge=0, description="slippage per side")
    threshold: float = Field(0.0, ge=0, description="min |expected return| to leave flat")
    allow_short: bool = True


class SampleConfig(_Frozen):
    """The offline sample set used by the demo."""

    symbols: tuple[str, ...] = ("SPX", "NDX", "EURUSD", "GOOG")
    max_bars: int | None = Field(None, description="keep only the last N bars per symbol")


class ServingConfig(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, description="the Serve proxy's HTTP port")
    direct_port: int | None = Field(
        8001, ge=1, le=65535, description="first HTTP port of the ingress replicas' own servers (Serve's "
        "direct ingress: requests skip the proxy hop; replica i listens on direct_port + i); None = proxy only")
    api_key: SecretStr | None = None


class MeridianConfig(_Frozen):
    """The whole configuration; each component receives only its own part."""

    ray: RayConfig = RayConfig()
    store: StoreConfig = StoreConfig()
    features: FeatureConfig = FeatureConfig()
    walkforward: WalkForwardConfig = WalkForwardConfig()
    models: ModelConfig = ModelConfig()
    trading: TradingConfig = TradingConfig()
    sample: SampleConfig = SampleConfig()
    serving: ServingConfig = ServingConfig()
    sentiment: SentimentConfig = SentimentConfig()
    portfolio: TradingLayerConfig = TradingLayerConfig()
    ingest: IngestConfig = IngestConfig()
    report_dir: str = "reports"


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ValueError(f"environment override {'__'.join(path)} crosses a scalar at {key}")
    node[path[-1]] = value


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``MERIDIAN__A__B=value`` -> ``{"a": {"b": value}}``; values parse as YAML scalars."""
    environ = dict(os.environ if environ is None else environ)
    tree: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX):].split("__") if p]
        if not path:
            continue
        value = raw if path[-1] in {"dsn", "api_key"} else yaml.safe_load(raw)
        _set_path(tree, path, value)
    return tree


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                environ: dict[str, str] | None = None,
                defaults: dict[str, Any] | None = None) -> MeridianConfig:
    """defaults (a job's own) <- YAML file (optional) <- environment <- explicit overrides.
    Unknown keys are errors."""
    data: dict[str, Any] = dict(defaults or {})
    if path is None and os.environ.get("MERIDIAN_CONFIG"):
        path = os.environ["MERIDIAN_CONFIG"]
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the configuration must be a mapping at the top level")
        data = _merge(data, loaded)
    data = _merge(data, env_overrides(environ))
    if overrides:
        data = _merge(data, overrides)
    return MeridianConfig.model_validate(data)


def config_hash(cfg: BaseModel) -> str:
    """Stable short hash of a config (secrets excluded), used to identify runs and artifacts."""
    payload = cfg.model_dump(mode="json")
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
