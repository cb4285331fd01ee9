"""Typed configuration of sizing, risk limits and paper trading."""

from __future__ import annotations

from pydantic import Field, model_validator

from pipelines.config.base import Frozen



class SizingConfig(Frozen):
    """Fractional Kelly on measured payoffs, times a leverage that follows confidence,
    volatility and session liquidity."""

    kelly_fraction: float = Field(0.25, gt=0, le=1, description="share of full Kelly taken")
    max_kelly: float = Field(1.0, gt=0, description="cap on the Kelly fraction of equity before leverage")
    min_outcomes: int = Field(20, ge=1, description="out-of-sample wins and losses needed before sizing")
    base_leverage: float = Field(5.0, gt=0, description="leverage at ordinary confidence")
    max_leverage: float = Field(12.5, gt=0, description="leverage for the most confident signals")
    confidence_floor: float = Field(0.5, ge=0, lt=1, description="confidence at or below which leverage is base")
    high_confidence: float = Field(0.8, gt=0, le=1, description="confidence at which leverage reaches max")
    vol_lookback: int = Field(500, ge=10, description="bars of volatility history the ratio compares with")
    vol_cut_ratio: float = Field(1.5, gt=0, description="volatility / its median above which leverage is cut")
    liquidity_ref: float = Field(0.6, gt=0, le=1, description="session liquidity score that scales by 1")
    liquidity_min_scale: float = Field(0.5, gt=0, description="scale in the thinnest session")
    liquidity_max_scale: float = Field(1.25, gt=0, description="scale in the busiest overlap")
    asset_class_leverage: dict[str, float] = Field(
        default_factory=lambda: {"crypto": 3.0, "forex": 12.5, "stock": 4.0, "index": 5.0, "commodity": 5.0},
        description="leverage cap per asset class (classes not listed: max_leverage)")

    @model_validator(mode="after")
    def _ordered(self) -> "SizingConfig":
        if self.max_leverage < self.base_leverage:
            raise ValueError(f"max_leverage {self.max_leverage} is below base_leverage {self.base_leverage}")
        if self.high_confidence <= self.confidence_floor:
            raise ValueError("high_confidence must be above confidence_floor")
        if self.liquidity_min_scale > self.liquidity_max_scale:
            raise ValueError("liquidity_min_scale is above liquidity_max_scale")
        return self


class RiskConfig(Frozen):
    """Limits applied to sized targets, in multiples of equity."""

    max_position: float = Field(3.0, gt=0, description="largest |position| in one asset")
    max_gross: float = Field(12.5, gt=0, description="largest sum of |positions|")
    corr_threshold: float = Field(0.8, gt=0, le=1, description="|correlation| above which assets count as one")
    corr_cap: float = Field(4.0, gt=0, description="largest combined |position| of a correlated group")
    corr_window: int = Field(250, ge=10, description="bars of returns the correlations use")
    corr_every: int = Field(50, ge=1, description="bars between correlation updates")
    atr_period: int = Field(14, ge=1, description="ATR length for stops")
    stop_atr: float | None = Field(2.0, gt=0, description="stop-loss distance in ATRs (None: off)")
    take_profit_atr: float | None = Field(4.0, gt=0, description="take-profit distance in ATRs (None: off)")
    daily_loss_limit: float | None = Field(0.05, gt=0, lt=1, description="loss in a UTC day that flattens until the next")
    rebalance_band: float = Field(0.25, ge=0, description="resizes on the same side up to this much wait")
    maintenance_margin: float | None = Field(0.05, gt=0, lt=1,
                                             description="equity below this share of gross notional is liquidated")


class ExtraCostsConfig(Frozen):
    """Costs beyond the fixed fee, spread and slippage of the trading section."""

    slippage_vol_mult: float = Field(0.05, ge=0, description="slippage per unit traded, as a multiple of ATR / close")
    impact_bps_per_unit: float = Field(0.0, ge=0, description="extra bps per unit traded per unit of trade size")
    financing_bps_per_year: float = Field(0.0, ge=0, description="funding on the gross notional held, per year")


class TradingLayerConfig(Frozen):
    """Sizing, risk, costs beyond the fixed ones, and the paper account."""

    sizing: SizingConfig = SizingConfig()
    risk: RiskConfig = RiskConfig()
    costs: ExtraCostsConfig = ExtraCostsConfig()
    account: str = Field("paper", description="paper-trading account name")
    initial_cash: float = Field(100_000.0, gt=0, description="cash a new paper account starts with")
