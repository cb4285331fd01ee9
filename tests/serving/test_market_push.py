"""Bars pushed by the live feed extend the kept series without a store read: within ``held()``
(one live batch) a pushed series is not read again however old the cache, the pushed rows take
the kept frame's dtypes, a bar that does not continue its series drops the series (the store has
the filled bars), and the streamed feature row of a pushed bar equals the batch row."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.sources.sample import sample_bars
from pipelines.store import ParquetStore
from pipelines.times import timeframe_offset
from serving.market import MarketData, live_features


def _next(bars: pd.DataFrame, k: int = 1) -> pd.DataFrame:
    """The bar ``k`` steps after the last one, as the bus carries it (plain Python values)."""
    last = bars.iloc[-1]
    step = timeframe_offset(str(last["timeframe"]))
    rec = {c: (str(v) if isinstance(v, str) else v) for c, v in last.to_dict().items()}
    rec.update(ts=last["ts"] + k * step, known_at=last["known_at"] + k * step, close=float(last["close"]) * 1.001,
               high=max(float(last["high"]), float(last["close"]) * 1.001))
    return pd.DataFrame([rec])


def test_pushed_bars_are_served_without_a_store_read_within_a_batch(tmp_path):
    store = ParquetStore(tmp_path / "lake")
    eur, _ = sample_bars("EURUSD", 700)
    btc, _ = sample_bars("BTCUSD", 700)
    store.write("bars", eur)
    store.write("bars", btc)
    market = MarketData(store, "core", refresh_s=0)   # every read outside a batch goes to the store
    eur_tf, btc_tf = str(eur["timeframe"].iloc[0]), str(btc["timeframe"].iloc[0])
    before = market.features("EURUSD", eur_tf)
    market.features("BTCUSD", btc_tf)
    new = pd.concat([_next(eur), _next(btc)], ignore_index=True)   # not in the store; BTCUSD's bars are 1M
    with market.held():
        assert market.push(new) == 2
        kept = market.bars("EURUSD", eur_tf)
        assert kept["ts"].iloc[-1] == new["ts"].iloc[0] and len(kept) == len(eur) + 1
        assert kept.dtypes.to_dict() == market.bars("BTCUSD", btc_tf).dtypes.to_dict() == eur.dtypes.to_dict()
        feats = market.features("EURUSD", eur_tf)
    assert market.streamed_rows == 1 and feats.index[-1] == new["ts"].iloc[0]
    assert feats.iloc[:-1].index.equals(before.index)
    whole = live_features(kept, "core")
    np.testing.assert_allclose(feats.iloc[-1].to_numpy(), whole.iloc[-1].to_numpy(), rtol=1e-9, atol=1e-12)
    # outside a batch the stale cache is read again: the store never had the pushed bar
    assert market.bars("EURUSD", eur_tf)["ts"].iloc[-1] == eur["ts"].iloc[-1]


def test_a_bar_that_does_not_continue_its_series_leaves_it_to_the_store(tmp_path):
    store = ParquetStore(tmp_path / "lake")
    eur, _ = sample_bars("EURUSD", 300)
    store.write("bars", eur)
    market = MarketData(store, "core", refresh_s=3600)
    tf = str(eur["timeframe"].iloc[0])
    market.bars("EURUSD", tf)
    assert market.push(_next(eur, 2)) == 0   # a hole of one bar
    gap = _next(eur, 2)
    store.write("bars", pd.concat([_next(eur), gap], ignore_index=True).astype(eur.dtypes.to_dict()))
    assert market.bars("EURUSD", tf)["ts"].iloc[-1] == gap["ts"].iloc[0]   # read again, hole filled
    assert market.push(_next(eur, 2)) == 0   # already kept: nothing new


def test_streamed_feature_rows_grow_in_place_and_frames_handed_out_never_change(monkeypatch):
    """The kept feature rows of a streaming series: each extension equals the history cut to
    FEATURE_ROWS_KEPT rows plus the new ones (what a concat would give), across the moves to a new
    array, and a frame handed out earlier still holds what it held."""
    import numpy as np

    import serving.market as market
    monkeypatch.setattr(market, "FEATURE_ROWS_KEPT", 50)
    monkeypatch.setattr(market._Rows, "SLACK", 7)
    rng = np.random.default_rng(3)
    idx = pd.DatetimeIndex(pd.date_range("2024-01-01", periods=400, freq="1min", tz="UTC"), freq=None, name="ts")
    full = pd.DataFrame(rng.normal(size=(400, 4)), index=idx, columns=["a", "b", "c", "d"])
    full.iloc[5, 2] = np.nan
    rows = market._Rows(full.iloc[:80])   # a batch frame longer than what is kept
    handed: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    n = 80
    for k in [1, 1, 3, 1, 2, 1, 1, 1, 5, 1] * 20:
        if n + k > len(full):
            break
        got = rows.extend(full.iloc[n:n + k])
        n += k
        want = full.iloc[max(0, n - 50):n]
        pd.testing.assert_frame_equal(got, want)
        assert got is rows.out and got.index.dtype == full.index.dtype
        handed.append((got, want.copy()))
    assert n > 300
    for got, want in handed:
        pd.testing.assert_frame_equal(got, want)
