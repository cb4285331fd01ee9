"""From predictions to positions and P&L.

* ``signals``: simple rules (long/short/flat on the expected return).
* ``sizing``: fractional Kelly on measured out-of-sample payoffs; dynamic leverage (confidence,
  volatility against its history, session liquidity, asset-class caps).
* ``risk``: per-asset, gross and correlated-group caps, no-trade band, ATR stop-loss and
  take-profit, the daily loss limit.
* ``engine``: the backtest engine (bars x symbols, next-open execution, fees, spread, slippage by
  volatility and size, financing, leverage cap, maintenance margin, trade list); ``backtest``:
  DataFrame front ends.
* ``portfolio``: the account in the store (fill journal, position snapshots, cash, P&L);
  ``replay``: a strategy's paper account (the CLI, the API and the live loop trade it);
  ``actions``: suggested actions per position.
"""
