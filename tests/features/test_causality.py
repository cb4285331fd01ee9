"""The prefix test over the whole registry (generated data with every optional input, and real
data from ../shared/data), the warm-up declarations, and proof that the check catches leaks."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from pipelines.features.causality import check_spec, check_warmup, cutoffs, prefix_check, universe_prefix_check
from pipelines.features.engine import usable
from pipelines.features.kernels import arr, spec
from pipelines.features.catalog import all_specs
from tests.synthetic.bars import synthetic_bars

SPECS = all_specs()
CUTOFFS = 5


def _run(sp, bars, ctx, seed: int):
    if not usable(sp, bars, ctx):
        pytest.skip(f"{sp.name} needs {sp.needs}, which this data does not carry")
    full = sp.fn(bars, ctx)
    points = cutoffs(len(bars), sp.lookback, CUTOFFS, np.random.default_rng(seed))
    return check_spec(sp, bars, ctx, points, full), full


@pytest.mark.parametrize("sp", SPECS, ids=[s.name for s in SPECS])
def test_prefix_generated(sp, generated):
    bars, ctx = generated
    violations, full = _run(sp, bars, ctx, seed=zlib.crc32(sp.name.encode()))
    assert not violations, "\n".join(map(str, violations))
    # the declared look-back is long enough: values exist right after it
    assert not check_warmup(sp, full), "\n".join(map(str, check_warmup(sp, full)))
    if len(bars) > sp.lookback + 20:
        assert full.iloc[sp.lookback:].notna().to_numpy().mean() > 0.9, f"{sp.name} is mostly NaN"


@pytest.mark.shared
@pytest.mark.parametrize("sp", SPECS, ids=[s.name for s in SPECS])
def test_prefix_real(sp, real_market):
    bars, ctx = real_market
    violations, _ = _run(sp, bars, ctx, seed=zlib.crc32(sp.name.encode()) + 1)
    assert not violations, "\n".join(map(str, violations))


def _leaky_specs():
    def future(bars, ctx):
        return {"leak_next_ret": np.append(np.diff(np.log(arr(bars, "close"))), np.nan)}

    def whole_sample_z(bars, ctx):
        c = arr(bars, "close")
        return {"leak_z": (c - c.mean()) / c.std()}

    def session_mean_by_date(bars, ctx):  # the classic "session average" merged back by date
        r = pd.Series(np.log(arr(bars, "close"))).diff()
        day = bars["ts"].dt.floor("D")
        return {"leak_day_mean": r.groupby(day.to_numpy()).transform("mean").to_numpy()}

    def peer_on_ts(bars, ctx):  # joins the peer's 4h bar by open time: its close comes later
        p = ctx.peers["spy4h"]
        m = pd.merge_asof(bars[["ts"]], p[["ts", "close"]], on="ts")
        return {"leak_peer_ts": m["close"].to_numpy()}

    return {"future": spec("leak_future", "test", ("leak_next_ret",), 0, future),
            "whole_sample_z": spec("leak_z", "test", ("leak_z",), 0, whole_sample_z),
            "session_mean_by_date": spec("leak_day_mean", "test", ("leak_day_mean",), 0, session_mean_by_date),
            "peer_on_ts": spec("leak_peer_ts", "test", ("leak_peer_ts",), 0, peer_on_ts)}


@pytest.mark.parametrize("kind", ["future", "whole_sample_z", "session_mean_by_date", "peer_on_ts"])
def test_check_catches_leaks(kind, generated):
    bars, ctx = generated
    peer = synthetic_bars(len(bars) // 4 + 2, seed=3, symbol="SPY", timeframe="4h",
                          start=str(bars["ts"].iloc[0].tz_convert(None)))
    ctx = type(ctx)(**{**ctx.__dict__, "peers": {**ctx.peers, "spy4h": peer}})
    rep = prefix_check(bars, (_leaky_specs()[kind],), ctx, k=6, seed=1)
    assert not rep.ok
    v = rep.violations[0]
    assert v.kind == "lookahead" and v.row <= v.cutoff


def test_warmup_check_catches_a_short_declaration(generated):
    bars, ctx = generated
    short = spec("sma_short_decl", "test", ("sma_short_decl",), 5,
                 lambda b, c: {"sma_short_decl": b["close"].rolling(30).mean().to_numpy()})
    v = check_warmup(short, short.fn(bars, ctx))
    assert len(v) == 1 and v[0].row == 29 and v[0].kind == "warmup"


def test_report_covers_the_registry(generated):
    bars, ctx = generated
    rep = prefix_check(bars, SPECS[:3], ctx, k=2)
    d = rep.as_dict()
    assert d["ok"] and d["specs_checked"] == 3 and d["columns_checked"] == sum(len(s.columns) for s in SPECS[:3])


def test_universe_stage_is_causal():
    uni = {f"S{i}": synthetic_bars(260, seed=40 + i, symbol=f"S{i}") for i in range(4)}
    # one symbol starts later and misses some bars: alignment must not leak either
    uni["S3"] = uni["S3"].iloc[30:].drop(index=[100, 101, 150]).reset_index(drop=True)
    assert universe_prefix_check(uni, k=6, seed=2) == []
