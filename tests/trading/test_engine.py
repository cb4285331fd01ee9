"""The vectorised engine against the event-by-event reference, and its conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.trading.backtest import buy_and_hold, run_backtest, run_portfolio
from pipelines.costs import Costs
from pipelines.trading.engine import simulate
from tests.trading.reference_engine import simulate_loop


def _market(T: int, N: int, seed: int, gaps: bool = False):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (T, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.002, (T, N)))
    target = np.round(rng.normal(0, 1.5, (T, N)) * (rng.random((T, N)) < 0.3), 1)
    target = pd.DataFrame(target).replace(0.0, np.nan).ffill().fillna(0.0).to_numpy().copy()
    target[rng.random((T, N)) < 0.05] = 0.0
    vol = np.abs(rng.normal(0.01, 0.003, (T, N)))
    if gaps:
        open_[rng.random((T, N)) < 0.05] = np.nan
        target[rng.random((T, N)) < 0.02] = np.nan
    return target, open_, close, vol


COSTS = [Costs(), Costs(fee_bps=5, spread_bps=3, slippage_bps=2, slippage_vol_mult=0.1,
                        impact_bps_per_unit=4, financing_bps_per_year=500, periods_per_year=8760)]


@pytest.mark.parametrize("costs", COSTS, ids=["flat", "full"])
@pytest.mark.parametrize("gaps", [False, True], ids=["aligned", "gaps"])
@pytest.mark.parametrize("max_leverage,margin", [(None, None), (2.5, None), (None, 0.2)])
def test_parity_with_event_loop(costs, gaps, max_leverage, margin):
    target, open_, close, vol = _market(600, 4, seed=7, gaps=gaps)
    if margin:
        target = target * 4                      # enough leverage for margin calls to happen
    fast = simulate(target, open_, close, costs, vol, max_leverage, margin)
    ref = simulate_loop(target, open_, close, costs, vol, max_leverage, margin)
    assert fast.margin_calls.tolist() == ref["margin_calls"]
    assert (len(fast.margin_calls) > 0) == bool(margin)
    np.testing.assert_allclose(fast.equity, ref["equity"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(fast.returns, ref["returns"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.turnover, ref["turnover"], rtol=0, atol=1e-9)
    tr = fast.trades
    mine = sorted(zip(tr.symbol.tolist(), tr.entry.tolist(), tr.exit.tolist(), tr.side.tolist(),
                      tr.is_open.tolist()))
    theirs = sorted((t[0], t[1], t[2], t[3], t[5]) for t in ref["trades"])
    assert len(mine) > 50 and mine == theirs
    np.testing.assert_allclose(sorted(tr.pnl), sorted(t[4] for t in ref["trades"]), atol=1e-12)
    # the trades account for every bit of the strategy's additive return
    assert tr.pnl.sum() == pytest.approx(fast.symbol_returns.sum(), abs=1e-10)


def test_margin_call_liquidates_at_the_next_open():
    T = 12
    px = np.full((T, 1), 100.0)
    px[5:] = 94.0                                # -6% on 10x: equity 0.4 < 5% of 9.4 notional
    res = simulate(np.full((T, 1), 10.0), px, px, Costs(0, 0, 0), maintenance_margin=0.05)
    assert res.margin_calls.tolist() == [4]
    assert res.held[:, 0].tolist() == [0.0] + [10.0] * 4 + [0.0] + [10.0] * 6   # re-enters on the next decision
    assert res.equity[4] == pytest.approx(0.4) and res.ruined_at is None
    none = simulate(np.full((T, 1), 10.0), px, px, Costs(0, 0, 0), maintenance_margin=0.04)
    assert len(none.margin_calls) == 0


def test_signal_at_close_executes_at_next_open():
    ts = pd.date_range("2024-01-01", periods=5, freq="1h", tz="UTC")
    bars = pd.DataFrame({"ts": ts, "open": [100.0, 110, 121, 133.1, 146.41],
                         "close": [110.0, 121, 133.1, 146.41, 161.051]})
    # long decided at the close of bar 1: earns bar 2's open-to-open (+10%), not bar 1's
    res = run_backtest(pd.Series([0, 1.0, 0, 0, 0], index=ts), bars, Costs(0, 0, 0))
    assert res.positions.tolist() == [0, 0, 1, 0, 0]
    assert res.returns.tolist() == pytest.approx([0, 0, 0.1, 0, 0])
    assert res.trades == 2 and res.turnover == 2.0
    costly = run_backtest(pd.Series([0, 1.0, 0, 0, 0], index=ts), bars, Costs(fee_bps=10, spread_bps=0, slippage_bps=0))
    assert costly.costs_paid == pytest.approx(2 * 10 / 1e4)
    bh = buy_and_hold(bars, ts[0], Costs(0, 0, 0))
    assert bh.equity.iloc[-1] == pytest.approx(161.051 / 110)   # first fill at bar 1's open


def test_leverage_financing_and_ruin():
    T = 50
    open_ = np.full((T, 1), 100.0)
    close = open_.copy()
    fin = simulate(np.full((T, 1), 5.0), open_, close,
                   Costs(0, 0, 0, financing_bps_per_year=1000, periods_per_year=10))
    # 5x gross pays 10%/year / 10 bars a year = 1% of notional per bar, from the first held bar
    assert fin.returns[1:] == pytest.approx(np.full(T - 1, -0.05))
    capped = simulate(np.full((T, 2), 4.0), np.full((T, 2), 100.0), np.full((T, 2), 100.0),
                      Costs(0, 0, 0), max_leverage=5.0)
    assert np.abs(capped.held[1:]).sum(axis=1) == pytest.approx(np.full(T - 1, 5.0))
    crash = open_.copy()
    crash[10:] = 70.0                                    # -30% gap on 5x: the account is wiped out
    ruin = simulate(np.full((T, 1), 5.0), crash, crash, Costs(0, 0, 0))
    assert ruin.ruined_at == 9 and ruin.equity[9:] == pytest.approx(0.0)
    assert np.all(ruin.held[10:] == 0)


def test_portfolio_on_long_bars_with_different_calendars():
    ts = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC")
    rng = np.random.default_rng(3)
    rows = []
    for sym, keep in (("BTC", np.ones(48, bool)), ("SPY", (ts.hour >= 14) & (ts.hour < 21))):
        px = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 48)))
        rows.append(pd.DataFrame({"symbol": sym, "ts": ts[keep], "open": px[keep], "close": px[keep] * 1.001}))
    bars = pd.concat(rows)
    targets = pd.DataFrame({"BTC": np.sign(rng.normal(size=48)), "SPY": 1.0}, index=ts)
    res = run_portfolio(targets, bars, Costs())
    pos = res.positions
    closed = ~((ts.hour >= 14) & (ts.hour < 21))
    # SPY cannot be entered before its first bar (14:00); it is held from then on, also while shut
    assert (pos["SPY"][ts < ts[14]] == 0).all() and (pos["SPY"][ts >= ts[14]] == 1.0).all()
    assert len(res.trade_list) >= 2 and set(res.trade_list["symbol"]) == {"BTC", "SPY"}
    assert res.trade_list["pnl"].sum() == pytest.approx(res.sim.symbol_returns.sum())
    assert closed.any()
    with pytest.raises(ValueError, match="no bars for"):
        run_portfolio(targets.assign(ETH=1.0), bars)


def test_no_look_ahead_a_decision_moves_only_later_bars():
    target, open_, close, vol = _market(300, 3, seed=9)
    base = simulate(target, open_, close, Costs(), vol)
    k = 150
    # a different decision at bar k's close changes nothing up to bar k
    other = target.copy()
    other[k] = -other[k] + 0.7
    moved = simulate(other, open_, close, Costs(), vol)
    np.testing.assert_array_equal(moved.returns[: k + 1], base.returns[: k + 1])
    assert not np.allclose(moved.returns[k + 1:], base.returns[k + 1:])
    # prices after bar k+1's open do not reach bar k's result
    later_open, later_close = open_.copy(), close.copy()
    later_open[k + 2:] *= 1.5
    later_close[k + 1:] *= 1.5
    shocked = simulate(target, later_open, later_close, Costs(), vol)
    np.testing.assert_array_equal(shocked.returns[: k + 1], base.returns[: k + 1])


@pytest.mark.shared
def test_parity_on_real_crypto_bars(shared_data):
    from pipelines.sources.files import import_bars
    base = shared_data / "crypto_binance_spot_1h"
    frames = [import_bars(base / f"{s}_1h.csv.gz", asset_class="crypto", tz="UTC").bars.tail(3000)
              for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    bars = pd.concat(frames, ignore_index=True)
    opens = bars.pivot_table(index="ts", columns="symbol", values="open")
    closes = bars.pivot_table(index="ts", columns="symbol", values="close").reindex_like(opens)
    mom = np.sign(closes / closes.shift(24) - 1).fillna(0.0)           # 24-bar momentum, known at the close
    costs = COSTS[1]
    fast = simulate(mom.to_numpy(), opens.to_numpy(), closes.to_numpy(), costs, None, 2.0)
    ref = simulate_loop(mom.to_numpy(), opens.to_numpy(), closes.to_numpy(), costs, None, 2.0)
    np.testing.assert_allclose(fast.equity, ref["equity"], rtol=0, atol=1e-9)
    assert len(fast.trades) == len(ref["trades"]) > 30


def test_run_backtest_keeps_its_meaning_for_the_evaluation():
    """The one-symbol front end gives what its documented formula gives: held = target shifted one
    bar, open-to-next-open returns (last bar to its close), costs on each position change."""
    rng = np.random.default_rng(4)
    ts = pd.date_range("2024-01-01", periods=400, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    opens = close * np.exp(rng.normal(0, 0.002, 400))
    bars = pd.DataFrame({"ts": ts, "open": opens, "close": close})
    target = pd.Series(np.sign(rng.normal(size=300)), index=ts[50:350])
    res = run_backtest(target, bars, Costs())
    tgt = target.reindex(ts).fillna(0.0).to_numpy()
    held = np.concatenate([[0.0], tgt[:-1]])
    bar_ret = np.append(opens[1:], close[-1]) / opens - 1.0
    dpos = np.abs(np.diff(np.concatenate([[0.0], held])))
    expected = held * bar_ret - dpos * Costs().per_unit_turnover
    np.testing.assert_allclose(res.returns.to_numpy(), expected, rtol=0, atol=1e-15)
    assert res.turnover == pytest.approx(dpos.sum()) and res.trades == int((dpos > 0).sum())
    assert res.costs_paid == pytest.approx((dpos * Costs().per_unit_turnover).sum())
