"""Streaming features equal batch features: every registered spec's streaming row (computed on
its own trailing window, from bars <= t and the context as known at t) equals the batch row over
5,000 bars of real data, to 1e-9 relative; the engine fed bar by bar gives the batch rows; rows
computed on a prefix equal the batch on that prefix (warm-up included)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from pipelines.features.causality import cut_context
from pipelines.features.engine import compute_features, usable
from pipelines.features.catalog import all_specs, feature_set
from pipelines.features.streaming import FULL_HISTORY, StreamingFeatures, plan, streaming_row, window_of
from tests.features.streaming_data import dev_market

RTOL, ATOL = 1e-9, 1e-12
SPECS = all_specs()
POINTS = 40


@pytest.fixture(scope="module")
def dev(shared_data):
    return dev_market(shared_data)


def _assert_rows_equal(got, want, where: str) -> None:
    got, want = np.asarray(got, dtype="float64"), np.asarray(want, dtype="float64")
    ok = np.isclose(got, want, rtol=RTOL, atol=ATOL) | (np.isnan(got) & np.isnan(want))
    assert ok.all(), f"{where}: streaming {got[~ok]} != batch {want[~ok]}"


@pytest.mark.shared
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_streaming_row_equals_batch_row(dev, spec):
    bars, ctx = dev
    assert usable(spec, bars, ctx), f"{spec.name}: the dev data cannot feed it ({spec.needs})"
    if spec.name in FULL_HISTORY:  # documented: computed on all retained bars, so exact by construction
        assert FULL_HISTORY[spec.name], f"{spec.name}: a full-history spec needs its reason"
    full = spec.fn(bars, ctx).to_numpy(dtype="float64")
    n = len(bars)
    w = window_of(spec, ctx.timeframe) or n
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))   # the same points in every run
    # points past the window (where the truncation shows), a few inside it, and the last bar
    late = rng.integers(min(w, n - 1), n, size=POINTS - 5)
    early = rng.integers(0, min(w, n - 1), size=4)
    for t in sorted(set(late.tolist()) | set(early.tolist()) | {n - 1}):
        known = cut_context(ctx, bars["known_at"].iloc[t])
        row = streaming_row(spec, bars, t, known)
        _assert_rows_equal(list(row.values()), full[t], f"{spec.name} at bar {t} ({bars['ts'].iloc[t]})")


def test_every_spec_has_a_window_and_full_history_specs_a_reason():
    for s in SPECS:
        w = window_of(s, "1h")
        assert w is None or w > s.lookback, s.name
    assert all(isinstance(r, str) and r for r in FULL_HISTORY.values())
    groups = plan(SPECS, "1h")
    assert sum(len(g.specs) for g in groups) == len(SPECS)
    # clock-anchored specs widen with finer bars: a day of 1m bars is 1,440 bars
    vwap_day = next(s for s in SPECS if s.name == "vwap_day")
    assert window_of(vwap_day, "1m") >= 2 * 1440 > window_of(vwap_day, "1h")


@pytest.mark.shared
def test_engine_bar_by_bar_equals_batch_for_every_spec(dev):
    bars, ctx = dev
    n, steps = len(bars), 40
    eng = StreamingFeatures(SPECS, ctx).warm(bars.iloc[:n - steps])
    new = bars.iloc[n - steps:]
    # the bar before the new ones comes again: a duplicate yields no row
    rows = pd.concat([eng.update(bars.iloc[[n - steps - 1]]), eng.update(new.iloc[:1]), eng.update(new.iloc[1:])])
    assert list(rows.index) == list(new["ts"])
    batch = compute_features(bars, SPECS, ctx, drop_warmup=False).iloc[n - steps:]
    assert list(rows.columns) == list(batch.columns)
    for i in range(steps):
        _assert_rows_equal(rows.iloc[i].to_numpy(), batch.iloc[i].to_numpy(), f"row {new['ts'].iloc[i]}")


@pytest.mark.shared
def test_streaming_on_a_prefix_equals_batch_on_that_prefix(dev):
    """The prefix test of the streaming form: fed bars[:t+1] only (inside the warm-up too), the
    engine's rows equal the batch computed on bars[:t+1]."""
    bars, ctx = dev
    specs = feature_set("core")
    eng = StreamingFeatures(specs, ctx)
    rows = eng.update(bars.iloc[:120])   # from the very first bar: every row inside some warm-up
    for t in (0, 5, 13, 33, 49, 50, 119):
        pre = bars.iloc[:t + 1]
        batch = compute_features(pre, specs, cut_context(ctx, pre["known_at"].iloc[-1]), drop_warmup=False)
        _assert_rows_equal(rows.iloc[t].to_numpy(), batch.iloc[-1].to_numpy(), f"prefix {t}")
