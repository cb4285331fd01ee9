"""Typed configuration: one frozen pydantic model per component, loaded from YAML, overridable
from the environment (``MERIDIAN__STORE__BACKEND=postgres``), and passed explicitly.

Every section lives in this package (``pipelines.config.<section>``), below every layer that
reads it. Where data lives: one absolute Meridian home (``MERIDIAN_HOME``, default
``~/.meridian``); relative paths in the configuration (the lake, the feature store, reports,
models) resolve under it when the configuration is built, so a local command, a submitted Ray job
and the Serve app see the same files. A run is identified by :func:`config_hash`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

from pipelines.config.base import Frozen, deep_merge, read_environment
from pipelines.errors import ConfigError

from pipelines.config.sentiment import SentimentConfig
from pipelines.config.trading import TradingLayerConfig
from pipelines.config.ingest import IngestConfig

ENV_PREFIX = "MERIDIAN__"
HOME_ENV = "MERIDIAN_HOME"
# The panel reads its own section (dashboards.config) from the same environment namespace.
FOREIGN_SECTIONS = ("dashboard",)


def meridian_home(home: str | Path | None = None, environ: dict[str, str] | None = None) -> Path:
    """The absolute Meridian home: ``home`` when given, else ``$MERIDIAN_HOME``, else ``~/.meridian``."""
    env = os.environ if environ is None else environ
    return Path(home or env.get(HOME_ENV) or "~/.meridian").expanduser().resolve()



class RayConfig(Frozen):
    """How this process reaches Ray."""

    address: str | None = Field(None, description="Ray address; None starts a local Ray in-process")
    num_cpus: int | None = Field(2, description="CPUs for a local Ray (ignored when connecting)")
    num_gpus: int | None = Field(None, description="GPUs for a local Ray; None lets Ray detect")
    object_store_memory: int = Field(200_000_000, description="bytes for a local object store")
    include_dashboard: bool = Field(False, description="start the dashboard with a local Ray")
    temp_dir: str | None = Field(None, description="Ray's session folder for a local Ray")


class StoreConfig(Frozen):
    """Where records live: the Parquet lake (default) or PostgreSQL."""

    backend: Literal["parquet", "postgres"] = "parquet"
    path: str = Field("lake", description="root folder of the Parquet lake (relative: under the Meridian home)")
    dsn: SecretStr | None = Field(None, description="PostgreSQL DSN (from MERIDIAN__STORE__DSN)")
    schema_name: str = Field("meridian", description="PostgreSQL schema holding the tables")


class FeatureConfig(Frozen):
    """Which features the pipeline computes."""

    feature_set: str = Field("core", description="registry subset: 'core' or 'full'")
    store_path: str = Field("features", description="root folder of the feature store (relative: under the home)")
    store_dtype: str = Field(
        "float32:16", pattern=r"^(float64|float32(:([1-9]|1[0-9]|2[0-2]))?)$",
        description="how the feature store keeps values: float32:16 (float32 rounded to 16 of its 23 "
                    "mantissa bits: about 5 significant digits, relative error <= 7.6e-6, the store about "
                    "0.77 of plain float32's bytes), float32:N (N bits, 1..22), float32 (relative error "
                    "<= 6e-8) or float64 (exact, twice float32's bytes)")


class WalkForwardConfig(Frozen):
    """Time-ordered train/test folds with purge and embargo (all in bars)."""

    horizon: int = Field(1, gt=0, description="label horizon in bars")
    train_bars: int = Field(2000, gt=10, description="training window length (rolling)")
    test_bars: int = Field(500, gt=0, description="test window length; also the retrain step")
    purge_bars: int | None = Field(None, description="gap between train and test; default = horizon")
    embargo_bars: int = Field(0, ge=0, description="bars skipped after each test window")
    expanding: bool = Field(False, description="expanding instead of rolling training window")
    validation_fraction: float = Field(0.2, ge=0.0, lt=0.9, description="tail of train used for early stopping")


class ModelConfig(Frozen):
    """Which forecasters run and with what parameters."""

    names: tuple[str, ...] = ("xgboost",)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    use_gpu: bool = Field(False, description="ask Ray for a GPU for models that want one, if present")
    promote_min_dsr: float = Field(
        0.95, ge=0, le=1, description="promotion gate: least out-of-sample deflated Sharpe ratio of a single-symbol model")
    promote_min_rank_ic_t: float = Field(
        2.0, description="promotion gate: least rank-IC Newey-West t across symbols of a panel (cross-sectional) model")


class TradingConfig(Frozen):
    """Costs and the signal rule of the backtest."""

    fee_bps: float = Field(2.0, ge=0, description="fee per side, basis points of notional")
    spread_bps: float = Field(1.0, ge=0, description="full bid-ask spread; half paid per side")
    slippage_bps: float = Field(1.0, ge=0, description="slippage per side")
    threshold: float = Field(0.0, ge=0, description="min |expected return| to leave flat")
    allow_short: bool = True


class SampleConfig(Frozen):
    """The offline sample set used by the demo."""

    symbols: tuple[str, ...] = ("SPX", "NDX", "EURUSD", "GOOG")
    max_bars: int | None = Field(None, description="keep only the last N bars per symbol")


class ServingConfig(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, description="the Serve proxy's HTTP port")
    direct_port: int | None = Field(
        8001, ge=1, le=65535, description="first HTTP port of the ingress replicas' own servers (Serve's "
        "direct ingress: requests skip the proxy hop; replica i listens on direct_port + i); None = proxy only")
    api_key: SecretStr | None = None


class MeridianConfig(Frozen):
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
    home: str = Field("", description="the Meridian home; empty = $MERIDIAN_HOME, else ~/.meridian")
    report_dir: str = Field("reports", description="reports folder (relative: under the Meridian home)")

    @model_validator(mode="after")
    def _under_home(self) -> "MeridianConfig":
        """Relative locations become absolute under the home, once, when the configuration is built."""
        home = meridian_home(self.home)
        object.__setattr__(self, "home", str(home))
        object.__setattr__(self, "report_dir", str(home / self.report_dir))
        if not Path(self.store.path).is_absolute():
            object.__setattr__(self, "store", self.store.model_copy(update={"path": str(home / self.store.path)}))
        if not Path(self.features.store_path).is_absolute():
            object.__setattr__(self, "features", self.features.model_copy(
                update={"store_path": str(home / self.features.store_path)}))
        return self

    @property
    def models_dir(self) -> Path:
        """Where model artifacts are saved: ``<home>/models``."""
        return Path(self.home) / "models"


def env_overrides(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``MERIDIAN__A__B=value`` -> ``{"a": {"b": value}}``, read by pydantic-settings against the
    configuration's own types (a scalar as text for pydantic to coerce, a list or mapping as JSON,
    ``null`` as None). The panel's ``MERIDIAN__DASHBOARD__*`` belong to the panel and are skipped."""
    env = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in env.items()
           if k.upper().startswith(ENV_PREFIX) and k[len(ENV_PREFIX):].split("__")[0].lower() not in FOREIGN_SECTIONS}
    return read_environment(MeridianConfig, ENV_PREFIX, env)


def _read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping at the top level")
    return loaded


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None,
                environ: dict[str, str] | None = None,
                defaults: dict[str, Any] | None = None) -> MeridianConfig:
    """defaults (a job's own) <- YAML file (optional) <- environment <- explicit overrides, merged
    field by field: a nested field given anywhere keeps its siblings' values. Unknown keys and bad
    values are :class:`pydantic.ValidationError` (a :class:`ValueError`), which
    :func:`config_problem` turns into one line."""
    data: dict[str, Any] = dict(defaults or {})
    if path is None and os.environ.get("MERIDIAN_CONFIG"):
        path = os.environ["MERIDIAN_CONFIG"]
    if path is not None:
        data = deep_merge(data, _read_yaml(path))
    data = deep_merge(data, env_overrides(environ))
    if overrides:
        data = deep_merge(data, overrides)
    return MeridianConfig.model_validate(data)


def config_problem(exc: ValidationError) -> str:
    """One line per invalid or unknown key of a configuration, e.g. ``store.colour: unknown key``."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(f"{where}: {what}")
    return "configuration: " + "; ".join(out)


# Where things live differs by machine, not by what a run computes.
_LOCATIONS = {"home": None, "report_dir": None, "store": {"path": None}, "features": {"store_path": None}}


def config_hash(cfg: BaseModel) -> str:
    """Stable short hash of a config (secrets and locations excluded), identifying runs and artifacts."""
    payload = cfg.model_dump(mode="json")
    if isinstance(cfg, MeridianConfig):
        for key, sub in _LOCATIONS.items():
            if sub is None:
                payload.pop(key, None)
            else:
                for k in sub:
                    payload.get(key, {}).pop(k, None)
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
