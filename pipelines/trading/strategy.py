"""A strategy is a record: what is backtested, paper-traded and served, stored with an id.

It names the run it comes from (its out-of-sample predictions), the models and the horizon, the
combiner with the parameters it learned inside that run's walk-forward (weights or a stacking
meta-learner per fold, from earlier folds only, and a final step for after the run), the signal rule, sizing and leverage, the
risk limits and one cost model. :mod:`pipelines.trading.decide` turns it and the bars up to t
into the target position at t; nothing else combines models or builds costs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

import pandas as pd
from pydantic import Field

from models.ensembles.combine import fit_weights
from pipelines.config import MeridianConfig
from pipelines.config.base import Frozen
from pipelines.config.trading import RiskConfig, SizingConfig
from pipelines.costs import Costs
from pipelines.errors import ConfigError, DataError
from pipelines.store.base import Store
from pipelines.times import utc_now

RULES = ("signal", "kelly")
STATUSES = ("candidate", "promoted", "retired")
COST_FIELDS = ("fee_bps", "spread_bps", "slippage_bps", "slippage_vol_mult", "impact_bps_per_unit",
               "financing_bps_per_year")


class CostModel(Frozen):
    """Fee, spread, slippage (fixed and with volatility), impact and financing; ``by_class``
    overrides any of them for an asset class (e.g. ``{"crypto": {"financing_bps_per_year": 1000}}``)."""

    fee_bps: float = Field(2.0, ge=0)
    spread_bps: float = Field(1.0, ge=0)
    slippage_bps: float = Field(1.0, ge=0)
    slippage_vol_mult: float = Field(0.05, ge=0)
    impact_bps_per_unit: float = Field(0.0, ge=0)
    financing_bps_per_year: float = Field(0.0, ge=0)
    by_class: dict[str, dict[str, float]] = Field(default_factory=dict)

    def costs(self, asset_class: str, periods_per_year: float) -> Costs:
        """The costs of one asset class (``periods_per_year``: bars per year, for financing)."""
        over = self.by_class.get(asset_class, {})
        bad = set(over) - set(COST_FIELDS)
        if bad:
            raise ConfigError(f"unknown cost field(s) {sorted(bad)} for {asset_class}: one of {COST_FIELDS}")
        vals = {k: float(over.get(k, getattr(self, k))) for k in COST_FIELDS}
        return Costs(**vals, periods_per_year=periods_per_year)


def cost_model_of(cfg: MeridianConfig) -> CostModel:
    """The cost model the configuration describes: the one place costs are built from it."""
    tr, extra = cfg.trading, cfg.portfolio.costs
    return CostModel(fee_bps=tr.fee_bps, spread_bps=tr.spread_bps, slippage_bps=tr.slippage_bps,
                     slippage_vol_mult=extra.slippage_vol_mult, impact_bps_per_unit=extra.impact_bps_per_unit,
                     financing_bps_per_year=extra.financing_bps_per_year)


class SignalRule(Frozen):
    threshold: float = Field(0.0, ge=0, description="min |combined expected return| to leave flat")
    allow_short: bool = True


class Combiner(Frozen):
    """How the strategy combines its models (:data:`models.ensembles.combine.FITTED`) and, per
    symbol, what it learned inside the run (:func:`models.ensembles.combine.fit_weights`): a step
    per fold (weights, or a stacking meta-learner's coefficients) and a final one."""

    kind: Literal["average", "weighted", "stacking", "bma"] = "weighted"
    params: dict[str, dict] = Field(default_factory=dict, description="per symbol: the fitted steps")


class Strategy(Frozen):
    strategy_id: str
    name: str
    version: int = 1
    status: Literal["candidate", "promoted", "retired"] = "candidate"
    run_id: str
    timeframe: str
    horizon: int = Field(ge=1)
    models: tuple[str, ...]
    symbols: tuple[str, ...]
    combiner: Combiner
    signal: SignalRule = SignalRule()
    rule: Literal["signal", "kelly"] = "signal"
    sizing: SizingConfig = SizingConfig()
    limits: RiskConfig = RiskConfig()
    costs: CostModel = CostModel()
    created_at: str = ""

    def summary(self) -> dict:
        return {"strategy_id": self.strategy_id, "name": self.name, "version": self.version,
                "status": self.status, "run_id": self.run_id, "models": list(self.models),
                "horizon": self.horizon, "timeframe": self.timeframe, "symbols": list(self.symbols),
                "combiner": self.combiner.kind, "rule": self.rule, "created_at": self.created_at}


# ---------------------------------------------------------------- from a run

def run_predictions(store: Store, run_id: str, models: list[str], horizon: int,
                    symbols: list[str] | None = None) -> pd.DataFrame:
    """The run's out-of-sample predictions of ``models`` at ``horizon``; a model or horizon the
    run lacks is an error that lists what it has."""
    runs = store.read("runs", {"run_id": run_id})
    if runs.empty:
        raise DataError(f"no run {run_id!r}: see `meridian runs list`")
    have = store.distinct("run_predictions", ("run_id", "model", "horizon"))
    have = have[have["run_id"] == run_id]
    cells = sorted(f"{m}/h{int(h)}" for m, h in zip(have["model"], have["horizon"]))
    missing = [m for m in models if f"{m}/h{int(horizon)}" not in cells]
    if missing:
        raise DataError(f"run {run_id} has no h{horizon} predictions of {', '.join(missing)}: "
                        f"it has {', '.join(cells) or 'none'}")
    where: dict = {"run_id": run_id, "model": list(models), "horizon": int(horizon)}
    if symbols:
        where["symbol"] = list(symbols)
    p = store.read("run_predictions", where)
    if p.empty:
        raise DataError(f"run {run_id} has no h{horizon} predictions for {', '.join(symbols or [])}")
    return p.sort_values(["symbol", "model", "ts"]).reset_index(drop=True)


def model_frames(p: pd.DataFrame, symbol: str) -> dict[str, pd.DataFrame]:
    """One frame per model (indexed by ts: expected_return, prob_up, realized_return, fold)."""
    out = {}
    for m, g in p[p["symbol"] == symbol].groupby("model", sort=True):
        out[str(m)] = pd.DataFrame({"expected_return": g["prediction"].to_numpy(dtype="float64"),
                                    "prob_up": g["prob_up"].to_numpy(dtype="float64"),
                                    "realized_return": g["realized"].to_numpy(dtype="float64"),
                                    "fold": g["fold"].fillna(0).to_numpy(dtype="int64")},
                                   index=pd.DatetimeIndex(g["ts"], name="ts"))
    return out


def from_run(store: Store, cfg: MeridianConfig, run_id: str, models: list[str], horizon: int,
             name: str | None = None, rule: str = "signal", combiner: str = "weighted",
             symbols: list[str] | None = None) -> Strategy:
    """A strategy (not yet stored) over a run's predictions, its combiner fitted inside the run."""
    if rule not in RULES:
        raise ConfigError(f"rule must be one of {RULES}, got {rule!r}")
    p = run_predictions(store, run_id, models, horizon, symbols)
    tfs = sorted(set(p["timeframe"].astype(str)))
    if len(tfs) != 1:
        raise DataError(f"run {run_id} mixes timeframes {tfs}")
    syms = sorted(set(p["symbol"].astype(str)))
    params = {}
    for s in syms:
        frames = model_frames(p, s)
        if set(frames) != set(models):
            raise DataError(f"run {run_id} lacks predictions of {sorted(set(models) - set(frames))} for {s}")
        fitted = fit_weights(combiner, frames, int(horizon))
        fitted["end"] = max(f.index[-1] for f in frames.values()).isoformat()
        params[s] = fitted
    body = {"run_id": run_id, "models": sorted(models), "horizon": int(horizon), "symbols": syms,
            "rule": rule, "combiner": combiner}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
    name = name or f"{'+'.join(sorted(models))}-h{horizon}-{rule}"
    return Strategy(strategy_id=f"st-{digest}", name=name, run_id=run_id, timeframe=tfs[0],
                    horizon=int(horizon), models=tuple(sorted(models)), symbols=tuple(syms),
                    combiner=Combiner(kind=combiner, params=params),
                    signal=SignalRule(threshold=cfg.trading.threshold, allow_short=cfg.trading.allow_short),
                    rule=rule, sizing=cfg.portfolio.sizing, limits=cfg.portfolio.risk,
                    costs=cost_model_of(cfg), created_at=utc_now().isoformat())


# ---------------------------------------------------------------- the store

def save(store: Store, st: Strategy) -> Strategy:
    """Store ``st``; a strategy of the same name gets the next version (and an id naming it)."""
    rows = store.read("strategies")
    same = rows[rows["name"] == st.name] if len(rows) else rows
    if len(same) and st.strategy_id not in set(same["strategy_id"]):
        version = int(same["version"].max()) + 1
        st = st.model_copy(update={"version": version, "strategy_id": f"{st.strategy_id}-v{version}"})
    store.write("strategies", pd.DataFrame([{
        "strategy_id": st.strategy_id, "name": st.name, "version": st.version, "status": st.status,
        "run_id": st.run_id, "created_at": pd.Timestamp(st.created_at or utc_now()),
        "record": st.model_dump_json()}]))
    return st


def get(store: Store, strategy_id: str) -> Strategy:
    rows = store.read("strategies", {"strategy_id": strategy_id})
    if rows.empty:
        known = store.read("strategies")
        ids = ", ".join(sorted(known["strategy_id"].astype(str))) if len(known) else "none"
        raise DataError(f"no strategy {strategy_id!r} (stored: {ids}): create one with "
                        "`meridian strategy create --run ID --models ... --horizon H`")
    return Strategy.model_validate_json(rows["record"].iloc[0])


def list_strategies(store: Store, status: str | None = None) -> list[Strategy]:
    rows = store.read("strategies")
    out = [Strategy.model_validate_json(r) for r in rows["record"]] if len(rows) else []
    out = [s for s in out if status is None or s.status == status]
    return sorted(out, key=lambda s: (s.created_at, s.strategy_id), reverse=True)


def set_status(store: Store, strategy_id: str, status: str) -> Strategy:
    if status not in STATUSES:
        raise ConfigError(f"status must be one of {STATUSES}, got {status!r}")
    st = get(store, strategy_id).model_copy(update={"status": status})
    return save(store, st)
