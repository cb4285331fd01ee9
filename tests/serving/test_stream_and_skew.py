"""WS /stream pushes new bars and predictions; the features and predictions served for a bar
equal those the training code computes offline for the same bar (no train/serve skew)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from websockets.sync.client import connect

from models.registry import list_models
from models.training.dataset import make_dataset
from models.zoo import model_class
from pipelines.features.catalog import feature_set


def _recv(ws, timeout: float = 20.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def test_stream_pushes_new_bars_and_predictions(served):
    url = served.url.replace("http://", "ws://") + "/stream?symbols=SPX"
    store = served.store()
    new_bar = served.withheld["SPX"].iloc[[0]]
    try:
        with connect(url, open_timeout=20) as ws:
            assert _recv(ws) == {"type": "subscribed", "symbols": ["SPX"]}
            snap_bar, snap_pred = _recv(ws), _recv(ws)
            last = store.read("bars", {"symbol": "SPX"}).iloc[-1]
            assert snap_bar["type"] == "bar" and snap_bar["snapshot"] is True
            assert pd.Timestamp(snap_bar["bar"]["ts"]) == last["ts"]
            assert snap_pred["type"] == "prediction" and snap_pred["prediction"]["symbol"] == "SPX"
            store.write("bars", new_bar)  # a bar arrives
            bar, pred = _recv(ws), _recv(ws)
            assert bar["type"] == "bar" and bar["snapshot"] is False
            assert pd.Timestamp(bar["bar"]["ts"]) == new_bar["ts"].iloc[0]
            assert bar["bar"]["close"] == pytest.approx(new_bar["close"].iloc[0])
            assert pred["type"] == "prediction"
            assert pd.Timestamp(pred["prediction"]["horizons"][0]["ts"]) == new_bar["ts"].iloc[0]
            # the HTTP answer, memoised per bar, moves to the new bar too
            http = served.get("/predictions/SPX").json()
            assert pd.Timestamp(http["horizons"][0]["ts"]) == new_bar["ts"].iloc[0]
            ws.send(json.dumps({"symbols": ["NOPE"]}))
            err = _recv(ws)
            assert err["type"] == "error" and err["status"] == 404 and "NOPE" in err["reason"]
            ws.send("not json")
            assert _recv(ws)["status"] == 422
            ws.send(json.dumps({"symbols": 5}))  # used to crash the handler with no close frame
            err = _recv(ws)
            assert err["type"] == "error" and err["status"] == 422 and "list of names" in err["reason"]
            ws.send(json.dumps({"symbols": ["SPX"]}))  # the socket still serves
            assert _recv(ws) == {"type": "subscribed", "symbols": ["SPX"]}
    finally:
        store.delete("bars", {"symbol": "SPX", "ts": list(new_bar["ts"])})
    time.sleep(0.3)  # past the bars' freshness window: the withheld bar is gone again
    assert pd.Timestamp(served.get("/predictions/SPX").json()["horizons"][0]["ts"]) < new_bar["ts"].iloc[0]
    with connect(served.url.replace("http://", "ws://") + "/stream?symbols=NOPE", open_timeout=20) as ws:
        err = _recv(ws)
        assert err["type"] == "error" and err["status"] == 404


def test_served_features_and_predictions_equal_the_training_code(served):
    store = served.store()
    stored = store.read("bars", {"symbol": "EURUSD"})
    t = stored["ts"].iloc[-1]
    # offline: the training dataset over more bars than serving has (labels known at t)
    all_bars = pd.concat([stored, served.withheld["EURUSD"]], ignore_index=True)
    ds = make_dataset(all_bars, feature_set(served.cfg.meridian.features.feature_set), horizon=1)
    offline = ds.X.loc[[t]]
    ind = served.get("/assets/EURUSD/indicators").json()
    assert pd.Timestamp(ind["ts"]) == t
    assert list(ind["values"]) == list(offline.columns)
    served_row = np.array([np.nan if v is None else v for v in ind["values"].values()], dtype=float)
    np.testing.assert_allclose(served_row, offline.iloc[0].to_numpy(dtype=float), rtol=1e-12, atol=0, equal_nan=True)

    pred = served.get("/predictions/EURUSD", params={"horizons": "1h"}).json()["horizons"][0]
    assert pd.Timestamp(pred["ts"]) == t
    recs = {r.model_id: r for r in list_models(store, "promoted")}
    assert len(pred["models"]) == 2
    for m in pred["models"]:
        rec = recs[m["model_id"]]
        model = model_class(rec.name).load(rec.artifact_path, expected_features=rec.features)
        off = model.predict(offline).iloc[0]
        for k in ("expected_return", "prob_up", "confidence"):
            assert m[k] == pytest.approx(float(off[k]), rel=1e-9, abs=1e-12), (rec.model_id, k)


def test_regime_of_the_latest_bar_from_the_promoted_regime_model(served):
    from serving.regime import load_regime
    store = served.store()
    rec = next(r for r in list_models(store, "promoted") if r.kind == "regime")
    bars = store.read("bars", {"symbol": "SPX"})
    feats = make_dataset(pd.concat([bars, served.withheld["SPX"]], ignore_index=True),
                         feature_set(served.cfg.meridian.features.feature_set), horizon=1).X
    offline = load_regime(rec).filter_proba(feats.loc[:bars["ts"].iloc[-1]]).iloc[-1]
    p = served.get("/predictions/SPX").json()
    reg = p["regime"]
    assert reg["model_id"] == rec.model_id and p["regime_missing"] is None
    assert set(reg["probabilities"]) == {"trending", "ranging", "volatile"}
    assert sum(reg["probabilities"].values()) == pytest.approx(1.0)
    assert reg["label"] == max(reg["probabilities"], key=reg["probabilities"].get)
    for name, v in reg["probabilities"].items():
        assert v == pytest.approx(float(offline[f"regime_p_{name}"]), rel=1e-9, abs=1e-12)
    assert served.get("/predictions/EURUSD").json()["regime"] is None
