"""Request and response models of the HTTP API (published in its OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipelines.trading.actions import PositionAction, Signal, TradeAction



class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(_Out):
    detail: str = Field(description="what went wrong and what to do")


class Health(_Out):
    status: Literal["ok", "degraded"]
    time: str
    store: str
    models_loaded: int
    models_missing: list[str] = Field(description="promoted models that failed to load, with the reason")
    strategies_served: list[str] = Field(default_factory=list, description="promoted strategies served")
    strategies_missing: list[str] = Field(default_factory=list,
                                          description="promoted strategies that cannot be served, with the reason")
    panels_served: list[str] = Field(default_factory=list, description="promoted panel models served")
    panels_missing: list[str] = Field(default_factory=list,
                                      description="promoted panel models that cannot be served (artifact missing, too "
                                                  "few universe symbols with bars), with the reason")
    instance: str = Field("", description="token of the running application (set by `meridian serve`)")


class DirectIngress(_Out):
    url: str = Field(description="where this replica answers directly, without the proxy hop")
    replica: str = Field(description="Serve's name for the replica")


class Ingress(_Out):
    instance: str = Field("", description="token of the running application (set by `meridian serve`)")
    direct: list[DirectIngress] = Field(description="the running ingress replicas' direct URLs (empty "
                                        "when direct ingress is off or no replica runs); a replica "
                                        "replacing a dead one may answer on another port")


class Asset(_Out):
    symbol: str
    asset_class: str
    timeframe: str
    last_ts: str | None
    last_close: float | None
    bars: int
    horizons: list[str] = Field(description="horizons with promoted models")
    panels: list["PanelPrediction"] = Field(default_factory=list, description="the latest answer of every promoted "
                                            "panel model whose universe holds the symbol (its score and rank "
                                            "across the cross-section), as /predictions/{symbol} gives it")


class Assets(_Out):
    assets: list[Asset]
    errors: list["BatchError"] = Field(default_factory=list, description="symbols of a panel model's universe "
                                       "whose panel answers could not be read, with the reason")


class ModelPrediction(_Out):
    model_id: str
    name: str
    version: str = Field(description="model id and registration time")
    expected_return: float
    prob_up: float
    confidence: float
    weight: float = Field(description="its weight in the ensemble")


class MissingModel(_Out):
    model_id: str | None
    name: str
    reason: str


class EnsembleValue(_Out):
    method: str
    expected_return: float
    prob_up: float
    confidence: float


class HorizonPrediction(_Out):
    horizon: str
    horizon_bars: int
    timeframe: str
    ts: str = Field(description="open time of the latest bar the prediction is made from")
    known_at: str = Field(description="when that bar became known")
    target_ts: str = Field(description="nominal close time of the bar the prediction is about: horizon bars "
                                       "of calendar time after the latest bar's close (closed days not skipped)")
    models: list[ModelPrediction]
    ensemble: EnsembleValue | None
    signal: Signal
    missing: list[MissingModel]
    model_versions: dict[str, str]


class PanelPrediction(_Out):
    model_id: str
    name: str
    version: str = Field(description="model id and registration time")
    label: str = Field(description="what the model was fitted to: 'fwd' (forward return), 'excess' (over the "
                                   "date's mean) or 'rank' (cross-sectional rank in [-0.5, 0.5])")
    horizon: str
    horizon_bars: int
    timeframe: str
    ts: str = Field(description="open time of the bars of the cross-section: the newest bar every symbol of "
                                "the model's universe has reached")
    target_ts: str = Field(description="nominal close time of the bar the prediction is about")
    score: float = Field(description="the model's output for the symbol, in the units of its label")
    prob_up: float
    confidence: float
    rank: float = Field(description="the score's rank across the cross-section, in [-0.5, 0.5] (0.5: the top)")
    cross_section: int = Field(description="symbols in the cross-section the model predicted")


class StrategySymbol(_Out):
    ts: str = Field(description="open time of the bar the decision is made at (the newest bar every "
                                "model of the strategy has a prediction for)")
    horizon_bars: int
    timeframe: str
    expected_return: float | None = Field(description="the models combined with the strategy's weights")
    prob_up: float | None
    confidence: float | None
    target: float = Field(description="target position decided at that bar's close, a multiple of equity")
    held: float = Field(description="the position the strategy holds into that bar's close")
    signal: Signal
    source: str = Field(description="'run' (the run's recorded predictions) or 'served models'")


class StrategyDecision(StrategySymbol):
    strategy_id: str
    name: str
    rule: str
    action: TradeAction
    reason: str


class StrategyState(_Out):
    strategy_id: str
    name: str
    rule: str
    ts: str
    symbols: dict[str, StrategySymbol]


class Strategies(_Out):
    strategies: list[StrategyState]
    missing: list[str] = Field(description="promoted strategies that cannot be served, with the reason")


class StrategyAccount(_Out):
    account: str
    strategy_id: str
    as_of: str | None = Field(description="the last bar the account processed (None: none yet)")
    bars: int
    final_equity: float | None = Field(None, description="equity as a multiple of the starting capital")
    equity: float | None = None
    pnl_total: float | None = None
    pnl_today: float | None = Field(None, description="P&L over the last UTC day of processed bars")
    positions: dict[str, float] = Field(default_factory=dict, description="multiples of equity")
    fills: int = 0
    costs_paid: float = 0.0
    running: bool = Field(description="stepped by the live loop (serving.paper_live) and `meridian paper run` "
                                      "unless switched off (POST /paper/stop)")
    switched_at: str | None = Field(description="when it was last switched (None: never)")


class Regime(_Out):
    model_id: str
    label: str
    probabilities: dict[str, float]


class Prediction(_Out):
    symbol: str
    asset_class: str
    last_close: float | None
    regime: Regime | None
    regime_missing: str | None = None
    horizons: list[HorizonPrediction]
    unavailable_horizons: list[str] = Field(description="requested horizons no promoted model covers")
    strategies: list[StrategyDecision] = Field(default_factory=list,
                                               description="the decision of every promoted strategy trading the symbol")
    strategies_missing: list[str] = Field(default_factory=list,
                                          description="promoted strategies trading the symbol that cannot decide, with the reason")
    panels: list[PanelPrediction] = Field(default_factory=list,
                                          description="every promoted panel (cross-sectional) model whose universe holds "
                                                      "the symbol: its answer from the latest cross-section")
    panels_missing: list[MissingModel] = Field(default_factory=list,
                                               description="promoted panel models of the symbol that cannot answer, with the reason")


class BatchRequest(_Out):
    symbols: list[str] = Field(min_length=1, max_length=100)
    horizons: list[str] | None = Field(None, description="e.g. ['1h', '24h']; default: every horizon served")


class BatchError(_Out):
    symbol: str
    status: int
    reason: str


class BatchResponse(_Out):
    results: list[Prediction]
    errors: list[BatchError]


class SessionState(_Out):
    open: bool
    next_event: Literal["open", "close"]
    minutes_to_next: float


class Sessions(_Out):
    ts: str
    sessions: dict[str, SessionState]
    open: list[str]
    overlaps: dict[str, bool]
    active_overlaps: list[str]
    liquidity: float


class CardAsset(_Out):
    symbol: str
    last_close: float | None
    change_pct: float | None = Field(description="change over the last bar, percent")
    signal: Signal | None
    expected_return: float | None
    confidence: float | None


class Card(_Out):
    asset_class: str
    n_assets: int
    buy: int
    sell: int
    hold: int
    assets: list[CardAsset]


class TopPrediction(_Out):
    symbol: str
    horizon: str
    signal: Signal
    expected_return: float
    confidence: float


class PanelMember(_Out):
    symbol: str
    score: float
    rank: float = Field(description="in [-0.5, 0.5] (0.5: the top of the cross-section)")


class PanelSummary(_Out):
    model_id: str
    name: str
    label: str
    horizon: str
    timeframe: str
    ts: str = Field(description="open time of the bars of the cross-section")
    cross_section: int = Field(description="symbols in the cross-section the model predicted")
    leaders: list[PanelMember] = Field(description="the highest-ranked symbols, best first")
    laggards: list[PanelMember] = Field(description="the lowest-ranked symbols, worst first")


class Overview(_Out):
    generated_at: str
    sessions: Sessions
    cards: list[Card]
    top_predictions: list[TopPrediction]
    panels: list[PanelSummary] = Field(default_factory=list, description="every served panel model's latest "
                                       "cross-section: its leaders and laggards (up to `top` of each)")
    panels_missing: list[MissingModel] = Field(default_factory=list,
                                               description="promoted panel models that cannot answer, with the reason")
    errors: list[BatchError]


class Indicators(_Out):
    symbol: str
    timeframe: str
    ts: str
    close: float
    feature_set: str
    values: dict[str, float | None]


class SentimentItem(_Out):
    published_at: str
    headline: str
    source: str | None
    score: float = Field(description="the configured scorer's score in [-1, 1]")
    label: str = Field(description="positive, negative or neutral")
    provider_score: float | None = Field(None, description="the news provider's own score for the asset, if sent")


class SentimentModel(_Out):
    active: str = Field(description="what scored: finance, finbert, vader or composite")
    version: str = Field(description="the scorer version the stored scores are keyed by")
    notice: str | None = Field(None, description="why that differs from the configured model")


class Sentiment(_Out):
    symbol: str
    window_days: int
    n_items: int
    mean_score: float | None
    model: SentimentModel
    items: list[SentimentItem]


class Risk(_Out):
    symbol: str
    timeframe: str
    bars: int
    last_ts: str
    volatility_annual: float | None
    var_95: float | None = Field(description="one-bar historical value at risk, as a return")
    cvar_95: float | None
    max_drawdown: float | None
    sharpe_annual: float | None


class PaperState(_Out):
    account: str
    strategy_id: str
    running: bool
    switched_at: str | None


class EquityPoint(_Out):
    ts: str = Field(description="open time of a bar the account processed")
    equity: float


class Equity(_Out):
    account: str
    strategy_id: str
    points: list[EquityPoint] = Field(description="the account's equity at every bar it processed, oldest first")


class Bar(_Out):
    ts: str
    known_at: str
    timeframe: str
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


class Bars(_Out):
    symbol: str
    timeframe: str
    bars: list[Bar]


class Portfolio(StrategyAccount):
    """A strategy's paper account, as `meridian paper status --strategy ID --json` prints it."""


class Action(_Out):
    symbol: str
    current_qty: float = Field(description="the account's position at its last bar, a multiple of equity")
    signal: Signal
    action: TradeAction = Field(description="the trade that moves the position toward the signal")
    reason: str
    position_action: PositionAction = Field(description="for an open position: TAKE_PROFIT, EXIT, ADD, MONITOR "
                                            "or HOLD; NONE without one (pipelines.trading.actions)")
    position_reason: str
    expected_return: float | None
    confidence: float | None
    strategy_id: str
    target: float = Field(description="the strategy's target position (multiple of equity)")
    ts: str = Field(description="the bar the decision is made at")


class Actions(_Out):
    account: str
    strategy_id: str
    actions: list[Action]
    errors: list[BatchError]


class AccuracyPoint(_Out):
    period: str
    accuracy: float
    n: int


class ModelInfo(_Out):
    model_id: str
    name: str
    kind: str
    status: str
    symbols: list[str]
    timeframe: str
    horizon: int
    feature_hash: str
    created_at: str
    train_end: str
    accuracy: float | None
    sharpe: float | None
    accuracy_over_time: list[AccuracyPoint]
    loaded: bool | None = Field(description="for promoted models: whether serving has it in memory")
    load_error: str | None


class Models(_Out):
    models: list[ModelInfo]


class TrainingRun(_Out):
    run_id: str
    kind: str
    state: str
    started_at: str | None
    finished_at: str | None
    detail: dict


class Training(_Out):
    source: str = Field(description="where the status comes from")
    runs: list[TrainingRun]
    notes: list[str] = Field(description="sources that could not answer, and why")


class RetrainRequest(_Out):
    symbols: list[str] = Field(min_length=1, max_length=20)
    models: list[str] | None = Field(None, description="model names; default: the configured ones")
    horizon: int | None = Field(None, gt=0, le=1000, description="label horizon in bars")
    promote: bool = False


class Promoted(_Out):
    model_id: str
    status: str
    retired: list[str]
    reloaded: bool


class PaperControl(_Out):
    strategy: str | None = Field(None, min_length=1, max_length=200,
                                 description="stored strategy id; default: the strategy the account trades, "
                                             "else the only promoted one")
    account: str | None = Field(None, min_length=1, max_length=200, description="default: paper:<strategy id>")


Asset.model_rebuild()
Assets.model_rebuild()
