"""Backtest speed: the vectorised engine against the event-by-event reference loop and against
the ``backtesting`` package (backtesting.py), on the same signal and costs.

* ours and the loop: 1,000,000 bars x 10 symbols (10M symbol-bars);
* backtesting.py runs one symbol per run, so it is timed on BT_BARS bars of one symbol and its
  speed is extrapolated per symbol-bar (its cost grows linearly with bars);
* vectorbt's published open-source figure, 100k bars x 10 columns in about 20 ms, is the target
  for ours on that shape (baseline 20 ms, ratio = ours / 20 ms).

Prints one JSON object per figure. Run: ``.venv/bin/python tests/bench/bench_backtest.py``
(env BENCH_BARS, BENCH_SYMBOLS, BT_BARS to change the sizes). Figures are best-of-N wall
times; on a shared machine they move with its load."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd

from pipelines.costs import Costs
from pipelines.trading.engine import simulate
from tests.trading.reference_engine import simulate_loop

BARS = int(os.environ.get("BENCH_BARS", 1_000_000))
SYMBOLS = int(os.environ.get("BENCH_SYMBOLS", 10))
BT_BARS = int(os.environ.get("BT_BARS", 20_000))
COSTS = Costs(fee_bps=2, spread_bps=1, slippage_bps=1)


def emit(bench: str, value: float, unit: str, baseline=None, ratio=None, **extra) -> None:
    print(json.dumps({"bench": bench, "value": round(float(value), 4), "unit": unit, "baseline": baseline,
                      "ratio": None if ratio is None else round(float(ratio), 4), **extra}), flush=True)


def market(T: int, N: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, 0.001, (T, N)))
    # the signal: sign of a 20-bar momentum, the same for every runner
    mom = np.zeros_like(close)
    mom[20:] = close[20:] / close[:-20] - 1
    return np.sign(mom), open_, close


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_backtesting_py(signal: np.ndarray, open_: np.ndarray, close: np.ndarray) -> float:
    from backtesting import Backtest, Strategy

    n = len(close)
    idx = pd.date_range("2000-01-01", periods=n, freq="1h")
    df = pd.DataFrame({"Open": open_, "High": np.maximum(open_, close), "Low": np.minimum(open_, close),
                       "Close": close, "Volume": 1.0, "Signal": signal}, index=idx)

    class FollowSignal(Strategy):
        def init(self):
            self.sig = self.I(lambda: self.data.Signal, name="signal")

        def next(self):
            s = self.sig[-1]
            if s > 0 and not self.position.is_long:
                self.buy()
            elif s < 0 and not self.position.is_short:
                self.sell()
            elif s == 0 and self.position:
                self.position.close()

    bt = Backtest(df, FollowSignal, cash=1e9, commission=COSTS.per_unit_turnover, exclusive_orders=True,
                  finalize_trades=True)
    t0 = time.perf_counter()
    stats = bt.run()
    elapsed = time.perf_counter() - t0
    assert stats["# Trades"] > 0
    return elapsed


def main() -> None:
    s100, o100, c100 = market(100_000, 10, seed=1)
    small = best_of(lambda: simulate(s100, o100, c100, COSTS), 7)
    emit("backtest_vectorised_100k_x_10_ms", small * 1e3, "ms", baseline=20.0, ratio=small * 1e3 / 20.0,
         note="baseline: vectorbt's published open-source figure for 100k bars x 10 columns")
    sig, o, c = market(BARS, SYMBOLS)
    cells = BARS * SYMBOLS
    ours = best_of(lambda: simulate(sig, o, c, COSTS), 3)
    emit("backtest_vectorised_symbol_bars_per_s", cells / ours, "symbol-bars/s",
         shape=f"{BARS}x{SYMBOLS}", seconds=round(ours, 4))

    t0 = time.perf_counter()
    ref = simulate_loop(sig, o, c, COSTS)
    loop = time.perf_counter() - t0
    fast = simulate(sig, o, c, COSTS)
    assert abs(fast.equity[-1] - ref["equity"][-1]) <= 1e-9 * max(1.0, abs(ref["equity"][-1]))
    emit("backtest_event_loop_symbol_bars_per_s", cells / loop, "symbol-bars/s",
         shape=f"{BARS}x{SYMBOLS}", seconds=round(loop, 2))
    emit("backtest_speedup_vs_event_loop", loop / ours, "x", baseline=1.0, ratio=loop / ours)

    bt_n = min(BT_BARS, BARS)
    bt = bench_backtesting_py(sig[:bt_n, 0], o[:bt_n, 0], c[:bt_n, 0])
    bt_rate = bt_n / bt
    emit("backtest_backtesting_py_symbol_bars_per_s", bt_rate, "symbol-bars/s",
         shape=f"{bt_n}x1", seconds=round(bt, 2),
         note=f"timed on {bt_n} bars of one symbol; extrapolated per symbol-bar to {BARS}x{SYMBOLS} "
              f"= {cells / bt_rate:.0f} s")
    emit("backtest_speedup_vs_backtesting_py", (cells / ours) / bt_rate, "x", baseline=100.0,
         ratio=(cells / ours) / bt_rate / 100.0, note="target: two orders of magnitude (baseline 100x)")


if __name__ == "__main__":
    main()
