"""The engine against its specs: what ``compute_features`` returns for every registered spec
equals that spec's own function run alone, and intermediates shared inside one computation are
built once and never leak to other bars."""

from __future__ import annotations

import numpy as np

from pipelines.features.engine import compute_features, usable
from pipelines.features.kernels import shared, shared_inputs
from pipelines.features.catalog import feature_set
from pipelines.features.spec import FeatureContext
from tests.synthetic.bars import synthetic_bars, synthetic_context


def test_every_spec_through_the_engine_equals_the_spec_run_alone():
    bars = synthetic_bars(1500, seed=5)
    ctx = synthetic_context(bars, seed=5)
    specs = feature_set("full")
    feats = compute_features(bars, specs, ctx, drop_warmup=False)
    b = bars.reset_index(drop=True)
    ran = [s for s in specs if usable(s, b, ctx)]
    assert len(ran) == len(specs)  # the generated market feeds every spec
    alpha = [s for s in ran if s.family == "alpha101"]
    assert len(alpha) >= 10
    for s in ran:
        alone = s.fn(b, ctx)  # no shared inputs: every intermediate built for this spec only
        got = feats[list(s.columns)].to_numpy()
        want = alone.to_numpy(dtype="float64")
        want = np.where(np.isinf(want), np.nan, want)
        same = (got == want) | (np.isnan(got) & np.isnan(want))
        assert same.all(), f"{s.name}: {list(np.array(s.columns)[~same.all(axis=0)])}"


def test_shared_intermediates_are_built_once_per_computation_bars_and_context():
    bars = synthetic_bars(50, seed=6)
    other = bars.copy()
    ctx, ctx2 = FeatureContext(symbol="A"), FeatureContext(symbol="A")
    built = []

    def make(tag):
        return lambda: built.append(tag) or len(built)

    assert shared(bars, ctx, "k", make("outside")) == 1 and shared(bars, ctx, "k", make("outside")) == 2
    with shared_inputs(bars, ctx):
        first = shared(bars, ctx, "k", make("in"))
        assert shared(bars, ctx, "k", make("in")) == first  # built once
        assert shared(bars, ctx, "j", make("in")) != first  # another key
        assert shared(other, ctx, "k", make("other")) != first  # equal content, another object: its own
        assert shared(bars, ctx2, "k", make("ctx2")) != first  # an equal but other context: its own
        with shared_inputs(other, ctx):
            assert shared(other, ctx, "k", make("nested")) != first
        assert shared(bars, ctx, "k", make("in")) == first  # the outer block is back
    assert shared(bars, ctx, "k", make("after")) == len(built)  # the block is closed: built again
    assert built == ["outside", "outside", "in", "in", "other", "ctx2", "nested", "after"]
