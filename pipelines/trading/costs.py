"""Trading costs, in basis points of traded notional."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    fee_bps: float = 2.0        # per side
    spread_bps: float = 1.0     # full spread; half is paid on each side
    slippage_bps: float = 1.0   # per side

    @property
    def per_unit_turnover(self) -> float:
        """Cost as a fraction of notional for each unit of position change."""
        return (self.fee_bps + self.spread_bps / 2 + self.slippage_bps) / 1e4
