"""Trading costs: fees, half the bid-ask spread and slippage on every unit traded, slippage that
grows with the bar's volatility and with the size of the trade, and financing on what is held."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    fee_bps: float = 2.0        # per side
    spread_bps: float = 1.0     # full spread; half is paid on each side
    slippage_bps: float = 1.0   # per side
    slippage_vol_mult: float = 0.0   # extra slippage per unit traded, as a multiple of the bar's volatility
    impact_bps_per_unit: float = 0.0  # extra bps per unit traded for each unit of the trade's size
    financing_bps_per_year: float = 0.0  # funding on the gross notional held, per year
    periods_per_year: float = 252.0      # bars per year, to turn financing into a per-bar rate

    def __post_init__(self) -> None:
        for name in ("fee_bps", "spread_bps", "slippage_bps", "slippage_vol_mult",
                     "impact_bps_per_unit", "financing_bps_per_year"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"Costs.{name} must be a number >= 0, got {getattr(self, name)!r}")
        if not self.periods_per_year > 0:
            raise ValueError(f"Costs.periods_per_year must be > 0, got {self.periods_per_year!r}")

    @property
    def per_unit_turnover(self) -> float:
        """Fixed cost as a fraction of notional for each unit of position change."""
        return (self.fee_bps + self.spread_bps / 2 + self.slippage_bps) / 1e4

    @property
    def financing_per_bar(self) -> float:
        return self.financing_bps_per_year / 1e4 / self.periods_per_year
