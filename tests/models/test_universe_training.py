"""The universe stage through training and serving: `--universe` walk-forward models carry the
cross-sectional columns, and the served prediction rebuilds them from the store exactly as the
training code computes them (no train/serve skew)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pandas as pd
import pytest

from models import zoo
from models.registry import list_models
from models.training.dataset import universe_features, universe_frame
from pipelines.errors import ConfigError
from pipelines.jobs.train import main
from tests.synthetic.markets import bars_from_returns
from pipelines.store import ParquetStore
from serving.config import ServeAppConfig, ServeOptions
from serving.local import local_service
from serving.market import live_features

SYMS = ["AAA", "BBB", "CCC"]


@pytest.fixture
def trained(tmp_path, monkeypatch, capsys):
    lake = tmp_path / "data" / "lake"
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(lake))
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TRAIN_BARS", "300")
    monkeypatch.setenv("MERIDIAN__WALKFORWARD__TEST_BARS", "150")
    monkeypatch.setenv("MERIDIAN__MODELS__PROMOTE_MIN_DSR", "0")     # the gate is tested in test_promotion
    rng = np.random.default_rng(3)
    market = rng.normal(0, 0.008, 701)
    store = ParquetStore(lake)
    withheld = {}
    for i, s in enumerate(SYMS):
        r = market + rng.normal(0, 0.006, 701)
        r[0] = 0.0
        bars = bars_from_returns(r, symbol=s, timeframe="1h", seed=i)
        store.write_bars(bars.iloc[:-1])
        withheld[s] = bars.iloc[[-1]]          # the next bar, written during the test
    assert main(["--symbols", ",".join(SYMS), "--models", "logistic", "--horizon", "1", "--universe",
                 "--promote", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    return lake, store, out, withheld


def test_universe_models_are_trained_registered_and_served_without_skew(ray_session, trained):
    lake, store, out, withheld = trained
    recs = [r for r in list_models(store, "promoted")]
    assert {r.symbols[0] for r in recs} == set(SYMS)
    for rec in recs:
        assert rec.config["universe"] == SYMS
        xs_cols = [c for c in rec.features if c.startswith("xs_")]
        assert any(c.startswith("xs_rank_") for c in xs_cols) and any(c.startswith("xs_alpha") for c in xs_cols)
        zoo.load(rec.artifact_path, expected_features=rec.features)

    from pipelines.config import load_config
    cfg = load_config()
    svc = local_service(ServeAppConfig(meridian=cfg, options=ServeOptions()))
    pred = asyncio.run(svc.prediction("BBB", None))
    h = pred["horizons"][0]
    assert not h["missing"] and h["models"][0]["model_id"] == out["horizons"]["1"]["symbols"]["BBB"]["model_ids"]["logistic"]

    # offline: the training code's features and universe stage on the same bars
    bars = {s: store.read("bars", {"symbol": s}).sort_values("ts").reset_index(drop=True) for s in SYMS}
    feats = {s: live_features(b, cfg.features.feature_set) for s, b in bars.items()}
    xs = universe_features(bars, feats)
    row = feats["BBB"].iloc[[-1]]
    row = pd.concat([row, universe_frame(xs["BBB"], row.index, exclude=row.columns)], axis=1)
    rec = next(r for r in recs if r.symbols == ["BBB"])
    offline = zoo.load(rec.artifact_path, expected_features=rec.features).predict(row[rec.features])
    assert h["models"][0]["expected_return"] == pytest.approx(float(offline["expected_return"].iloc[-1]), rel=1e-12)
    assert h["models"][0]["prob_up"] == pytest.approx(float(offline["prob_up"].iloc[-1]), rel=1e-12)

    # a new bar for BBB before its peers have theirs: the universe at that time is incomplete,
    # so the model is reported missing (and nothing is cached); once the peers' bars are in, it answers
    svc = local_service(ServeAppConfig(meridian=cfg, options=ServeOptions(bars_refresh_s=0)))
    store.write_bars(withheld["BBB"])
    early = asyncio.run(svc.prediction("BBB", None))["horizons"][0]
    assert pd.Timestamp(early["ts"]) == withheld["BBB"]["ts"].iloc[0]
    assert not early["models"] and "universe peer AAA has no 1h bar" in early["missing"][0]["reason"]
    store.write_bars(withheld["AAA"])
    store.write_bars(withheld["CCC"])
    late = asyncio.run(svc.prediction("BBB", None))["horizons"][0]
    assert not late["missing"] and late["models"][0]["model_id"] == rec.model_id


def test_universe_needs_three_symbols(tmp_path):
    from pipelines.config import load_config
    from pipelines.jobs.train import run
    with pytest.raises(ConfigError, match="at least 3 symbols"):
        run(load_config(environ={}), ParquetStore(tmp_path / "lake"), ["AAA", "BBB"], ["logistic"], universe=True)
