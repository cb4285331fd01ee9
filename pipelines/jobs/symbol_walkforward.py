"""One symbol's walk-forward, and many symbols' walk-forwards as Ray tasks.

:func:`walkforward_symbol` is everything one symbol needs: its bars read from the store, its
windows and model ids, every model and ensemble out of sample (:func:`evaluate_symbol`), the
digest of the bars it saw. :class:`Walkforwards` runs it for each symbol, one Ray task per symbol
when Ray is up and there are several (the workers read the store themselves: the same Meridian
home or PostgreSQL), else one after another in this process; the results are the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.ensembles.combine import ENSEMBLES, combine
from models.training.dataset import Dataset, make_dataset
from pipelines.features.store import DEFAULT_STORE_DTYPE
from models.training.walkforward import run_walkforward_many
from pipelines.config import MeridianConfig, TradingConfig, WalkForwardConfig
from pipelines.errors import ConfigError
from pipelines.evaluation.metrics import deflated_sharpe, per_period_sharpe
from pipelines.evaluation.oos import evaluate
from pipelines.features.catalog import feature_set
from pipelines.store.base import Store
from pipelines.times import periods_per_year
from pipelines.trading.strategy import CostModel, cost_model_of

DEFAULT_ENSEMBLES = tuple(ENSEMBLES)

@dataclass
class SymbolRun:
    symbol: str
    dataset: Dataset | None     # None in a SymbolOutcome (its rows and features say what the driver needs)
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # name -> OOS frame
    metrics: dict[str, dict] = field(default_factory=dict)
    baselines: dict[str, dict] = field(default_factory=dict)
    final_models: dict[str, object] = field(default_factory=dict)
    folds: list[dict] = field(default_factory=list)


def run_hash(name: str, wf: WalkForwardConfig, params: dict, feature_set_name: str, symbol: str,
             timeframe: str) -> str:
    import hashlib
    payload = json.dumps({"name": name, "walkforward": wf.model_dump(mode="json"), "params": params,
                          "feature_set": feature_set_name, "symbol": symbol, "timeframe": timeframe},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def baseline_metrics(bars: pd.DataFrame, rows: pd.DatetimeIndex, realized: pd.Series, trading: TradingConfig,
                     ppy: float, costs: CostModel = CostModel()) -> dict[str, dict]:
    """Buy-and-hold and naive momentum (the sign of the last bar's return) as predictors and as
    strategies, on the same out-of-sample rows."""
    last = np.log(bars.set_index("ts")["close"]).diff().reindex(rows)
    out = {}
    for name, pred in (("buy_and_hold", pd.Series(1.0, index=rows)), ("momentum", last)):
        frame = pd.DataFrame({"expected_return": pred.to_numpy(), "realized_return": realized.to_numpy()},
                             index=rows)
        ev = evaluate(frame, bars, trading, ppy, costs=costs)
        m = {k: v for k, v in ev.metrics.items() if not k.startswith(("buy_and_hold_", "momentum_"))}
        out[name] = m
    return out


def evaluate_symbol(bars: pd.DataFrame, models: list[str], wf: WalkForwardConfig, *,
                    params: dict[str, dict] | None = None, trading: TradingConfig = TradingConfig(),
                    costs: CostModel = CostModel(),
                    ensembles: tuple[str, ...] = DEFAULT_ENSEMBLES, feature_set_name: str = "core",
                    use_gpu: bool = False, use_ray: bool = True, progress: bool = False,
                    dataset: Dataset | None = None, prior_trials: int = 0,
                    store_dtype: str = DEFAULT_STORE_DTYPE) -> SymbolRun:
    """Every model and ensemble on one symbol's bars, out of sample. ``prior_trials``: other
    models/configurations already tried on this series (they count in the deflated Sharpe
    ratio and the edge test's correction)."""
    params = params or {}
    ds = dataset or make_dataset(bars, feature_set(feature_set_name), wf.horizon, store_dtype=store_dtype)
    run = SymbolRun(symbol=ds.symbol, dataset=ds)
    results = run_walkforward_many(ds, list(models), wf, params, use_ray=use_ray, use_gpu=use_gpu,
                                   progress=progress)
    for name in models:
        res = results[name]
        run.predictions[name] = res.predictions
        run.final_models[name] = res
        run.folds = res.folds
    if models:
        for e in ensembles:
            run.predictions[f"ensemble_{e}"] = combine(e, {m: run.predictions[m] for m in models}, ds.horizon)
    ppy = periods_per_year(ds.timeframe, ds.asset_class)
    n_trials = max(1, len(run.predictions) + int(prior_trials))
    evals = {name: evaluate(p, bars, trading, ppy, n_trials=n_trials, horizon=ds.horizon, costs=costs)
             for name, p in run.predictions.items()}
    start = min(p.index[0] for p in run.predictions.values()) if run.predictions else None
    sharpes = [per_period_sharpe(ev.strategy.returns.loc[start:]) for ev in evals.values()]
    for name, ev in evals.items():
        ev.metrics["strategy_dsr"] = deflated_sharpe(ev.strategy.returns.loc[ev.strategy.returns.index >= start],
                                                     n_trials, sharpes)
        run.metrics[name] = ev.metrics
    if run.predictions:
        first = next(iter(run.predictions.values()))
        run.baselines = baseline_metrics(bars, first.index, first["realized_return"], trading, ppy, costs)
    return run


def tried_before(seen: pd.DataFrame, symbol: str, timeframe: str, horizon: int) -> set[str]:
    """Model ids whose out-of-sample predictions for this series are already in the store
    (``seen``: the predictions table's distinct model_id, symbol, timeframe, horizon)."""
    if seen.empty:
        return set()
    sel = (seen["symbol"] == symbol) & (seen["timeframe"] == timeframe) & (seen["horizon"] == horizon)
    return set(seen.loc[sel, "model_id"])


def windows(wf: WalkForwardConfig, timeframe: str, asset_class: str, retrain_every: str | None,
            keep: str | None) -> WalkForwardConfig:
    """``retrain_every`` / ``keep`` (bars, or spans such as 1M, 3y) as the test and train windows."""
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


@dataclass
class SymbolJob:
    """What one symbol's walk-forward is given: the store to read its bars from, its timeframe
    (from the driver's one listing of the series) and the run's settings. ``seen``: the
    predictions already stored for the symbol (distinct model_id, symbol, timeframe, horizon)."""
    store: Store
    symbol: str
    timeframe: str
    models: list[str]
    cfg: MeridianConfig
    seen: pd.DataFrame
    ensembles: tuple[str, ...] = ()
    universe: list[str] = field(default_factory=list)   # the universe stage's symbols, if any
    dataset: Dataset | None = None                       # the symbol's universe dataset, if any
    retrain_every: str | None = None
    keep: str | None = None
    keep_bars: bool = False        # return the bars (to persist predictions against)
    keep_models: bool = False      # return the latest fold's models (to register)
    use_ray: bool = False          # folds as Ray tasks


@dataclass
class SymbolOutcome:
    """One symbol's walk-forward as the driver records it: the reason it was skipped, or its
    windows, model ids and hashes, prior trials, run (without its dataset: the rows and feature
    columns stand for it), the digest and closes of its bars."""
    symbol: str
    timeframe: str
    skipped: str | None = None
    rows: int = 0
    features: list[str] = field(default_factory=list)
    wf: WalkForwardConfig | None = None
    ids: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    prior: set[str] = field(default_factory=set)
    run: SymbolRun | None = None
    digest: str | None = None
    closes: pd.Series | None = None
    bars: pd.DataFrame | None = None


def walkforward_symbol(job: SymbolJob) -> SymbolOutcome:
    """Read the symbol's bars, set its windows and model ids, run :func:`evaluate_symbol`. A
    symbol too short for one fold comes back skipped, with the reason."""
    from pipelines.evaluation.runs import bars_digest
    cfg, sym, tf = job.cfg, job.symbol, job.timeframe
    bars = job.store.read("bars", {"symbol": sym, "timeframe": tf})
    wf = windows(cfg.walkforward, tf, str(bars["asset_class"].iloc[0]), job.retrain_every, job.keep)
    if len(bars) < wf.train_bars + wf.test_bars:
        return SymbolOutcome(sym, tf, skipped=(
            f"{len(bars)} {tf} bars, fewer than one walk-forward fold needs "
            f"(train {wf.train_bars} + test {wf.test_bars}); lower --train-bars/--test-bars"))
    ids, hashes = {}, {}
    for name in list(job.models) + [f"ensemble_{e}" for e in job.ensembles]:
        spec = (cfg.models.params.get(name, {}) if name in job.models
                else {"members": {m: cfg.models.params.get(m, {}) for m in job.models}})
        if job.universe:
            spec = {**spec, "universe": job.universe}
        hashes[name] = run_hash(name, wf, spec, cfg.features.feature_set, sym, tf)
        ids[name] = f"{name}-{sym}-{tf}-h{wf.horizon}-{hashes[name][:8]}"
    prior = tried_before(job.seen, sym, tf, wf.horizon) - set(ids.values())
    run = evaluate_symbol(bars, job.models, wf, params=dict(cfg.models.params), trading=cfg.trading,
                          costs=cost_model_of(cfg), ensembles=job.ensembles, store_dtype=cfg.features.store_dtype,
                          feature_set_name=cfg.features.feature_set, use_gpu=cfg.models.use_gpu,
                          use_ray=job.use_ray, progress=False, dataset=job.dataset, prior_trials=len(prior))
    if not job.keep_models:
        run.final_models = {}
    rows, features, run.dataset = len(run.dataset), list(run.dataset.X.columns), None   # less to send back
    return SymbolOutcome(sym, tf, rows=rows, features=features, wf=wf, ids=ids, hashes=hashes, prior=prior, run=run, digest=bars_digest(bars),
                         closes=bars.set_index("ts")["close"], bars=bars if job.keep_bars else None)


def _symbol_task(job: SymbolJob) -> SymbolOutcome:
    """:func:`walkforward_symbol` in a Ray worker, on the worker's own copy of the store."""
    try:
        return walkforward_symbol(job)
    finally:
        job.store.close()


class Walkforwards:
    """Each symbol's :func:`walkforward_symbol`. With Ray and several symbols, one task per
    symbol (named ``walkforward SYMBOL``, so the Ray dashboard shows which symbols run) that
    reads its own bars, computes its features and runs its folds inside it: the driver only
    submits. Otherwise symbols go one after another and their folds are the Ray tasks."""

    def __init__(self, store: Store, models: list[str], cfg: MeridianConfig, *, use_ray: bool, progress: bool,
                 n_symbols: int, ensembles: tuple[str, ...] = (), universe_ds: dict[str, Dataset] | None = None,
                 retrain_every: str | None = None, keep: str | None = None, keep_bars: bool = False,
                 keep_models: bool = False) -> None:
        import ray

        from models.zoo import model_class
        self.store, self.models, self.cfg, self.progress = store, models, cfg, progress
        self.universe_ds = universe_ds or {}
        self.settings = dict(ensembles=tuple(ensembles), universe=sorted(self.universe_ds), retrain_every=retrain_every,
                             keep=keep, keep_bars=keep_bars, keep_models=keep_models)
        gpu = cfg.models.use_gpu and any(model_class(m).wants_gpu for m in models)  # folds ask for the GPU node
        self.use_ray = use_ray and ray.is_initialized()
        self.parallel = self.use_ray and n_symbols > 1 and not gpu
        self.jobs: dict[str, SymbolJob] = {}
        self.refs: dict = {}
        self.task = ray.remote(_symbol_task) if self.parallel else None

    def submit(self, symbol: str, timeframe: str, seen: pd.DataFrame) -> None:
        """Queue (with Ray: start) the symbol's walk-forward; ``seen`` as in :class:`SymbolJob`."""
        job = SymbolJob(self.store, symbol, timeframe, list(self.models), self.cfg, seen,
                        dataset=self.universe_ds.get(symbol), use_ray=self.use_ray and not self.parallel,
                        **self.settings)
        self.jobs[symbol] = job
        if self.parallel:
            from cluster.placement import training_options
            task = self.task.options(**training_options(False), max_retries=1, name=f"walkforward {symbol}")
            self.refs[task.remote(job)] = symbol

    def as_completed(self) -> Iterator[SymbolOutcome]:
        """Each symbol's outcome as it finishes (in the order submitted without Ray tasks)."""
        from tqdm import tqdm
        if not self.parallel:
            for job in tqdm(list(self.jobs.values()), desc="symbols", disable=not self.progress):
                yield walkforward_symbol(job)
            return
        import ray
        pending = list(self.refs)
        with tqdm(total=len(pending), desc="symbols", disable=not self.progress) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield ray.get(ref)
                bar.update(len(done))
