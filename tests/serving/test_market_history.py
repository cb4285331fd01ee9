"""Live features from enough history: with ``history_bars`` far below the feature set's longest
look-back, the served series keeps that look-back, and the newest bar's features equal the ones
computed on the whole stored history."""

from __future__ import annotations

import numpy as np

from pipelines.features.catalog import feature_set
from pipelines.features.streaming import window_of
from pipelines.sources.sample import sample_bars
from pipelines.store import ParquetStore
from serving.market import MarketData, live_features


def test_live_features_keep_every_specs_look_back(tmp_path):
    store = ParquetStore(tmp_path / "lake")
    bars, _ = sample_bars("EURUSD", 5000)
    store.write("bars", bars)
    market = MarketData(store, "core", refresh_s=0, history_bars=30)
    need = max(window_of(s, "1h") for s in feature_set("core"))
    assert market.keep("1h") == need > 30
    kept = market.bars("EURUSD", "1h")
    assert len(kept) == need and kept["ts"].iloc[-1] == bars["ts"].iloc[-1]
    live = market.features("EURUSD", "1h")
    full = live_features(store.read("bars", {"symbol": "EURUSD"}), "core")
    assert live.index[-1] == full.index[-1]
    a, b = live.iloc[-1].reindex(full.columns).to_numpy(dtype="float64"), full.iloc[-1].to_numpy(dtype="float64")
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert MarketData(store, "core", refresh_s=0, history_bars=need + 500).keep("1h") == need + 500
    assert MarketData(store, "core", refresh_s=0).keep("1h") is None
