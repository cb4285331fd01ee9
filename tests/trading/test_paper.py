"""Paper trading on bars arriving one by one: next-open fills, costs, restart safety, the switch."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.config.trading import SizingConfig, TradingLayerConfig
from pipelines.costs import Costs
from pipelines.trading.paper import PaperTrader


def _bars(n: int = 60, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-04", periods=n, freq="1h", tz="UTC")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * (1 + rng.normal(0, 0.001, n))
    return pd.DataFrame({"symbol": "BTCUSDT", "asset_class": "crypto", "venue": "test", "timeframe": "1h",
                         "ts": ts, "open": open_, "high": np.maximum(open_, close) * 1.002,
                         "low": np.minimum(open_, close) * 0.998, "close": close, "volume": 1.0,
                         "known_at": ts + pd.Timedelta(hours=1)})


def momentum(symbol: str, bars: pd.DataFrame):
    """Up move more likely after an up bar: a rule the test can follow by hand."""
    if len(bars) < 2:
        return None
    up = bars["close"].iloc[-1] > bars["close"].iloc[-2]
    return {"prob_up": 0.7 if up else 0.3, "confidence": 0.6}


CFG = TradingLayerConfig(sizing=SizingConfig(min_outcomes=1), initial_cash=10_000)
COSTS = Costs(fee_bps=10, spread_bps=4, slippage_bps=2)


def _trader(store, predictor=momentum):
    return PaperTrader(store, {"BTCUSDT": "crypto"}, "1h", predictor, CFG, COSTS,
                       prior_payoff=(0.01, 0.01, 5, 5))


def test_fills_at_next_open_with_costs(store):
    bars = _bars(12)
    trader = _trader(store)
    assert trader.on_bars(bars.iloc[:10]) == 10
    assert trader.on_bars(bars.iloc[:10]) == 0                     # replays are ignored
    fills = store.read("fills", {"account": "paper", "symbol": "BTCUSDT"})
    assert len(fills) > 0
    by_ts = bars.set_index("ts")
    for _, f in fills.iterrows():
        o = by_ts.loc[f["ts"], "open"]                              # filled at that bar's open ...
        slip = 1 + np.sign(f["qty"]) * (4 / 2 + 2) / 1e4
        assert f["price"] == pytest.approx(o * slip)                # ... paying spread and slippage
        assert f["fee"] == pytest.approx(abs(f["qty"]) * f["price"] * 10 / 1e4)
        # ... on a decision taken at the close of the bar before
        prev = by_ts.index[by_ts.index.get_loc(f["ts"]) - 1]
        assert prev < f["ts"]
    first = fills.iloc[0]
    c = bars["close"].to_numpy()
    assert np.sign(first["qty"]) == (1 if c[1] > c[0] else -1)       # first view at bar 1's close
    assert first["ts"] == bars["ts"].iloc[2]


def test_restart_resumes_without_double_fills(store):
    bars = _bars(16)
    one = _trader(store)
    one.on_bars(bars.iloc[:10])
    n_fills = len(store.read("fills", {"account": "paper"}))
    # a new process: state from the store; bar 19 again (a crash before its checkpoint) changes nothing
    two = _trader(store)
    assert two.state["last_ts"]["BTCUSDT"] == bars["ts"].iloc[9].isoformat()
    assert two.on_bars(bars.iloc[9:10]) == 0
    assert two.on_bars(bars.iloc[10:]) == 6
    straight_store_fills = store.read("fills", {"account": "paper"})
    assert len(straight_store_fills) > n_fills
    assert straight_store_fills["fill_id"].is_unique
    # a crash after the fill but before the checkpoint: the bar is redone and booked once
    state = json.loads(store.read("checkpoints", {"source": "paper_trader"})["state"].iloc[-1])
    before = len(straight_store_fills)
    three = _trader(store)
    three.state = {**state, "last_ts": {"BTCUSDT": bars["ts"].iloc[14].isoformat()},
                   "pending": {"BTCUSDT": 0.5}}
    assert three.on_bars(bars.iloc[15:]) == 1
    assert len(store.read("fills", {"account": "paper"})) == before


def test_same_result_as_one_uninterrupted_run(store, tmp_path):
    from pipelines.store import ParquetStore
    bars = _bars(15)
    ref_store = ParquetStore(tmp_path / "ref")
    PaperTrader(ref_store, {"BTCUSDT": "crypto"}, "1h", momentum, CFG, COSTS,
                prior_payoff=(0.01, 0.01, 5, 5)).on_bars(bars)
    for lo, hi in ((0, 6), (6, 11), (11, 15)):
        _trader(store).on_bars(bars.iloc[lo:hi])
    a = store.read("fills", {"account": "paper"}).drop(columns=["ts"]).reset_index(drop=True)
    b = ref_store.read("fills", {"account": "paper"}).drop(columns=["ts"]).reset_index(drop=True)
    cols = ["fill_id", "qty", "price", "fee", "position_qty", "cash"]
    a = a[a["symbol"] != "CASH"][cols].reset_index(drop=True)
    b = b[b["symbol"] != "CASH"][cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, rtol=1e-9)


def test_switch_off_consumes_bars_without_orders(store):
    from serving.portfolio import set_paper_running
    bars = _bars(8)
    set_paper_running(store, "paper", False)
    trader = _trader(store)
    assert trader.on_bars(bars) == 8
    assert (store.read("fills", {"account": "paper"})["symbol"] == "CASH").all()


def test_poll_reads_only_closed_bars_from_the_store(store):
    bars = _bars(8)
    store.write("bars", bars)
    trader = _trader(store)
    assert trader.poll(now=bars["known_at"].iloc[5]) == 6            # bars 0..5 have closed
    assert trader.poll(now=bars["known_at"].iloc[5]) == 0
    assert trader.poll(now=bars["known_at"].iloc[-1]) == 2


def bullish(symbol: str, bars: pd.DataFrame):
    return {"prob_up": 0.9, "confidence": 0.9}


def _crash_bars() -> pd.DataFrame:
    b = _bars(30, seed=1)
    b["open"], b["close"] = 100.0, 100.0
    b.loc[6:, ["open", "close"]] = 90.0                    # -10% at bar 6's open (a Monday)
    b.loc[5, "close"] = 100.0
    b["high"], b["low"] = b[["open", "close"]].max(axis=1) + 0.5, b[["open", "close"]].min(axis=1) - 0.5
    return b


def test_daily_loss_limit_and_stop_flatten(tmp_path):
    from pipelines.store import ParquetStore
    from pipelines.config.trading import RiskConfig
    store = ParquetStore(tmp_path / "lake")
    cfg = TradingLayerConfig(sizing=SizingConfig(min_outcomes=1), initial_cash=10_000,
                             risk=RiskConfig(daily_loss_limit=0.03, stop_atr=None, take_profit_atr=None))
    bars = _crash_bars()
    trader = PaperTrader(store, {"BTCUSDT": "crypto"}, "1h", bullish, cfg, Costs(0, 0, 0),
                         prior_payoff=(0.01, 0.01, 5, 5))
    trader.on_bars(bars.iloc[:8])
    fills = store.read("fills", {"account": "paper", "symbol": "BTCUSDT"})
    # long from bar 1; the loss at bar 6 passes the limit: flattened at bar 7's open
    assert fills["ts"].iloc[-1] == bars["ts"].iloc[7] and fills["position_qty"].iloc[-1] == 0
    trader.on_bars(bars.iloc[8:20])                          # the same UTC day: no new entry
    assert trader.book.positions["BTCUSDT"].qty == 0
    trader.on_bars(bars.iloc[20:26])                         # bar 24 opens the next day
    assert trader.book.positions["BTCUSDT"].qty > 0
    # a stop instead: the drop is 20 ATR against the position
    other = TradingLayerConfig(sizing=SizingConfig(min_outcomes=1), initial_cash=10_000,
                               account="stops", risk=RiskConfig(daily_loss_limit=None, stop_atr=2.0))
    t2 = PaperTrader(store, {"BTCUSDT": "crypto"}, "1h", bullish, other, Costs(0, 0, 0),
                     prior_payoff=(0.01, 0.01, 5, 5))
    t2.on_bars(bars.iloc[:12])
    assert t2.book.positions["BTCUSDT"].qty == 0 and t2.state["blocked"] == {"BTCUSDT": 1.0}


def test_payoff_from_stored_predictions(tmp_path):
    from pipelines.store import ParquetStore
    from pipelines.trading.paper import payoff_from_predictions
    store = ParquetStore(tmp_path / "lake")
    ts = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    store.write("predictions", pd.DataFrame({
        "model_id": "m", "symbol": "X", "timeframe": "1h", "ts": ts, "known_at": ts + pd.Timedelta(hours=1),
        "horizon": 1, "fold": 0, "expected_return": [0.1, -0.1, 0.1, 0.1],
        "realized_return": [0.02, 0.01, -0.03, 0.04]}))
    # outcomes +0.02, -0.01, -0.03, +0.04
    assert payoff_from_predictions(store, ["m"]) == pytest.approx((0.03, 0.02, 2, 2))
    # the last outcome is known at 04:00 only
    assert payoff_from_predictions(store, ["m"], ts[3]) == pytest.approx((0.02, 0.02, 1, 2))
    assert payoff_from_predictions(store, []) == (0.0, 0.0, 0, 0)


def test_correlated_symbols_share_one_cap(tmp_path):
    from pipelines.store import ParquetStore
    from pipelines.config.trading import RiskConfig
    a = _bars(30, seed=3)
    b = a.copy()
    b["symbol"] = "ETHUSDT"
    b[["open", "high", "low", "close"]] *= 0.5                # the same moves: correlation 1
    cfg = TradingLayerConfig(sizing=SizingConfig(min_outcomes=1, kelly_fraction=1.0), initial_cash=10_000,
                             risk=RiskConfig(corr_cap=0.3, max_position=3.0, daily_loss_limit=None,
                                             stop_atr=None, take_profit_atr=None))
    trader = PaperTrader(ParquetStore(tmp_path / "lake"), {"BTCUSDT": "crypto", "ETHUSDT": "crypto"}, "1h",
                         bullish, cfg, Costs(0, 0, 0), prior_payoff=(0.01, 0.01, 5, 5))
    trader.on_bars(pd.concat([a.iloc[:14], b.iloc[:14]]))
    pend = trader.state["pending"]
    assert pend["BTCUSDT"] > 0 and pend["ETHUSDT"] > 0
    assert pend["BTCUSDT"] + pend["ETHUSDT"] == pytest.approx(0.3)


def test_volatility_slippage_uses_the_volatility_known_at_the_decision(tmp_path):
    from pipelines.store import ParquetStore
    from pipelines.trading.risk import atr
    bars = _bars(10)
    costs = Costs(fee_bps=0, spread_bps=0, slippage_bps=0, slippage_vol_mult=0.5)
    store = ParquetStore(tmp_path / "lake")
    PaperTrader(store, {"BTCUSDT": "crypto"}, "1h", bullish, CFG, costs,
                prior_payoff=(0.01, 0.01, 5, 5)).on_bars(bars)
    f = store.read("fills", {"account": "paper", "symbol": "BTCUSDT"}).iloc[0]
    k = int(np.flatnonzero(bars["ts"] == f["ts"])[0])
    known = bars.iloc[:k]
    a = atr(*(known[c].to_numpy()[:, None] for c in ("high", "low", "close")), 14)[-1, 0]
    expected = bars["open"].iloc[k] * (1 + 0.5 * a / known["close"].iloc[-1])
    assert f["qty"] > 0 and f["price"] == pytest.approx(expected)


@pytest.mark.slow
def test_bars_from_the_ingestion_publisher_and_bus(tmp_path, ray_session):
    from pipelines.ingest.pubsub import Publisher, bar_bus, bar_records
    from pipelines.store import ParquetStore
    bars = _bars(12)
    # in-process: the trader's on_bars is a publisher callback
    local = _trader(ParquetStore(tmp_path / "a"))
    pub = Publisher()
    pub.subscribe(local.on_bars)
    pub(bars.iloc[:6])
    pub(bars.iloc[6:])
    assert local.state["last_ts"]["BTCUSDT"] == bars["ts"].iloc[-1].isoformat()
    # across processes: the Ray bar bus the live ingestion publishes to
    bus = bar_bus("test-paper-bus")
    ray_session.get(bus.subscribe.remote("paper:paper"), timeout=60)
    ray_session.get(bus.publish.remote(bar_records(bars)), timeout=60)
    remote = _trader(ParquetStore(tmp_path / "b"))
    assert remote.poll_bus(bus, "paper:paper") == 12
    assert remote.poll_bus(bus, "paper:paper") == 0
    a = local.store.read("fills", {"symbol": "BTCUSDT"})[["qty", "price"]]
    b = remote.store.read("fills", {"symbol": "BTCUSDT"})[["qty", "price"]]
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    ray_session.kill(bus)
