"""The build job's stages as plain functions (what its Ray tasks run) on real Binance bars: a rerun
with nothing new computes nothing, per symbol or across the universe; an append computes only the
trailing slice per symbol and only the new dates across the universe, equal to a full computation
(within one float32 step, see tests/features/test_store.py); changed history or a symbol catching
up on dates already ranked recomputes the universe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pipelines.features.store as store_mod
import pipelines.features.universe as universe_mod
from pipelines.features.store import FeatureStore, as_stored
from pipelines.features.universe import XS_MEMORY, cross_sectional, cross_sectional_chunks, cross_sectional_since
from pipelines.jobs.features import SymbolInput, build_symbol, build_universe
from tests.features.test_store import TOL, max_abs_diff

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT")
N, NEW = 1200, 24
SET = "core"


@pytest.fixture(scope="module")
def universe_bars(shared_data):
    from pipelines.sources.files import import_bars
    out = {}
    for s in SYMBOLS:
        b = import_bars(shared_data / "crypto_binance_spot_1h" / f"{s}_1h.csv.gz", asset_class="crypto", tz="UTC").bars
        out[s] = b[b["ts"] >= pd.Timestamp("2023-03-01", tz="UTC")].head(N + NEW).reset_index(drop=True)
    return out


class Counted:
    """Counts the engine's and the universe stage's computations in this process."""

    def __init__(self, monkeypatch):
        self.feature_rows: list[int] = []
        self.panel_rows: list[int] = []
        compute, panels = store_mod.compute_features, universe_mod.universe_panels

        def counted_compute(bars, *a, **k):
            self.feature_rows.append(len(bars))
            return compute(bars, *a, **k)

        def counted_panels(bars_by_symbol):
            p = panels(bars_by_symbol)
            self.panel_rows.append(len(p["close"]))
            return p

        monkeypatch.setattr(store_mod, "compute_features", counted_compute)
        monkeypatch.setattr(universe_mod, "universe_panels", counted_panels)


def ranked_columns(bars: pd.DataFrame) -> pd.DataFrame:
    """The per-symbol columns the universe stage ranks, computed as build_symbol computes them."""
    from pipelines.features.catalog import feature_set
    from pipelines.features.engine import compute_features
    from pipelines.features.spec import FeatureContext
    s = str(bars["symbol"].iloc[0])
    f = compute_features(bars, feature_set(SET), FeatureContext(symbol=s, asset_class="crypto", timeframe="1h"))
    return f[[c for c in universe_mod.RANKED_COLUMNS if c in f.columns]]


def build(bars: dict[str, pd.DataFrame], root) -> tuple[dict, dict]:
    """Both stages, as run_build runs them (without Ray)."""
    summaries, ranked = {}, {}
    for s, b in bars.items():
        summaries[s], ranked[s] = build_symbol(SymbolInput(s, "1h", "crypto", b), SET, str(root), {}, None)
    version = next(iter(summaries.values()))["version"]
    return summaries, build_universe(bars, ranked, str(root), "1h", version)


def stored_universe(root, info) -> dict[str, pd.DataFrame]:
    st = FeatureStore(root)
    return {s: st.read(s, "1h", info["version"])[0] for s in info["symbols"]}


def test_rerun_computes_nothing_and_append_only_the_new_dates(tmp_path, universe_bars, monkeypatch):
    first = {s: b.iloc[:N] for s, b in universe_bars.items()}
    summaries, info = build(first, tmp_path)
    assert {v["action"] for v in summaries.values()} == {"full"} and info["action"] == "full"

    counted = Counted(monkeypatch)
    summaries, again = build(first, tmp_path)
    assert {v["action"] for v in summaries.values()} == {"reused"}
    assert again["action"] == "reused" and again["dates_computed"] == 0
    assert counted.feature_rows == [] and counted.panel_rows == []  # nothing computed at all
    assert again["columns"] == info["columns"]

    summaries, inc = build(universe_bars, tmp_path)
    assert {v["action"] for v in summaries.values()} == {"incremental"}
    assert inc["action"] == "incremental" and inc["dates_computed"] == NEW
    # the universe stage ran once, over the new dates and XS_MEMORY aligned rows before them
    assert counted.panel_rows == [XS_MEMORY + NEW]
    got = stored_universe(tmp_path, inc)
    # a full computation, rounded as the store keeps it, equals what the appends left there
    full_ranked = {s: as_stored(ranked_columns(b)) for s, b in universe_bars.items()}
    full = cross_sectional(universe_bars, full_ranked)
    for s in SYMBOLS:
        assert len(got[s]) == N + NEW and got[s].index.equals(full[s].index)
        assert max_abs_diff(got[s], as_stored(full[s])) < TOL, s
        assert got[s].iloc[-NEW:].notna().any().mean() > 0.8  # the new rows hold values (some factors are
        # undefined on a window, e.g. a correlation of ranks that stayed constant)


# rolling sums restarted at a chunk differ from the whole history's by float64 round-off relative
# to the window's sums (seen: 4e-12 absolute on a correlation of 2e-3), far inside float32 storage
def test_cross_sectional_since_equals_the_whole_computation(universe_bars):
    ranked = {s: ranked_columns(b) for s, b in universe_bars.items()}
    full = cross_sectional(universe_bars, ranked)
    since = universe_bars["BTCUSDT"]["ts"].iloc[N]
    tail = cross_sectional_since(universe_bars, ranked, since)
    for s in SYMBOLS:
        want = full[s][full[s].index >= since]
        assert len(want) == NEW and tail[s].index.equals(want.index) and list(tail[s].columns) == list(want.columns)
        np.testing.assert_allclose(tail[s].to_numpy(), want.to_numpy(), rtol=1e-7, atol=1e-9, equal_nan=True)


def test_changed_history_or_a_late_symbol_recomputes_the_universe(tmp_path, universe_bars, monkeypatch):
    first = {s: b.iloc[:N] for s, b in universe_bars.items()}
    build(first, tmp_path)
    # one symbol lags: the others' new dates are ranked without it
    lagging = {s: (b.iloc[:N] if s == "SOLUSDT" else b) for s, b in universe_bars.items()}
    assert build(lagging, tmp_path)[1]["action"] == "incremental"
    counted = Counted(monkeypatch)
    # it catches up on dates already ranked: every date is ranked again, with it
    _, info = build(universe_bars, tmp_path)
    assert info["action"] == "full" and counted.panel_rows == [N + NEW]
    # an edited bar in the stored history
    edited = {s: b.copy() for s, b in universe_bars.items()}
    edited["ETHUSDT"].loc[10, "volume"] *= 2
    assert build(edited, tmp_path)[1]["action"] == "full"
    # another universe
    three = {s: universe_bars[s] for s in SYMBOLS[:3]}
    assert build(three, tmp_path)[1]["action"] == "full"


def test_chunked_dates_equal_the_whole_computation(universe_bars):
    ranked = {s: ranked_columns(b) for s, b in universe_bars.items()}
    full = cross_sectional(universe_bars, ranked)
    chunks = list(cross_sectional_chunks(universe_bars, ranked, chunk=300))
    assert len(chunks) == -(-(N + NEW) // 300)
    for s in SYMBOLS:
        got = pd.concat([c[s] for c in chunks])
        assert got.index.equals(full[s].index) and list(got.columns) == list(full[s].columns)
        np.testing.assert_allclose(got.to_numpy(), full[s].to_numpy(), rtol=1e-7, atol=1e-9, equal_nan=True)


def test_a_full_build_in_chunks_is_stored_whole(tmp_path, universe_bars, monkeypatch):
    monkeypatch.setattr(universe_mod, "XS_CHUNK_CELLS", 1)  # 2048-date chunks: N + NEW > 2048 needs two
    span = max(b["ts"].iloc[-1] for b in universe_bars.values()) - min(b["ts"].iloc[0] for b in universe_bars.values())
    later = span + pd.Timedelta(hours=1)  # the same bars again, after the first: twice the history
    bars = {s: pd.concat([b, b.assign(ts=b["ts"] + later, known_at=b["known_at"] + later)], ignore_index=True)
            for s, b in universe_bars.items()}
    counted = Counted(monkeypatch)
    _, info = build(bars, tmp_path)
    assert info["action"] == "full" and counted.panel_rows == [2048, 2 * (N + NEW) - 2048 + XS_MEMORY]
    full = cross_sectional(bars, {s: as_stored(ranked_columns(b)) for s, b in bars.items()})
    st = FeatureStore(tmp_path)
    for s, got in stored_universe(tmp_path, info).items():
        rec = st.record(s, "1h", info["version"])
        assert len(rec["parts"]) == 2 and rec["bars"] == len(bars[s]) and "bars_digest" in rec
        assert got.index.equals(full[s].index) and max_abs_diff(got, as_stored(full[s])) < TOL
    assert build(bars, tmp_path)[1]["action"] == "reused"
