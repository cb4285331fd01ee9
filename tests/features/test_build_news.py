"""The build job feeds the store's news, scored, to the sentiment features."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipelines.cli import main
from pipelines.features.store import FeatureStore
from tests.synthetic.bars import synthetic_bars
from pipelines.store import ParquetStore


def test_build_uses_stored_news(ray_session, tmp_path, capsys, monkeypatch):
    lake = ParquetStore(tmp_path / "lake")
    bars = synthetic_bars(400, seed=5, symbol="NWS")
    lake.write("bars", bars)
    t = bars["known_at"]
    lake.write("news", pd.DataFrame([
        {"item_id": f"n{i}", "provider": "test", "published_at": t.iloc[200 + 20 * i],
         "known_at": t.iloc[200 + 20 * i], "headline": text, "summary": "", "url": "", "source": "wire",
         "tickers": json.dumps(["NWS"]), "kind": "news"}
        for i, text in enumerate(["Record profits, great growth, strong outlook",
                                  "Terrible losses and a disastrous fraud scandal",
                                  "Excellent results beat every estimate"])]))
    lake.close()
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__FEATURES__STORE_PATH", str(tmp_path / "features"))
    assert main(["features", "build", "--set", "full", "--symbols", "NWS", "--timeframe", "1h", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    frame, _ = FeatureStore(tmp_path / "features").read("NWS", "1h", out["symbols"]["NWS"]["version"])
    s = frame["news_sent_24h"]
    first = bars["ts"].iloc[200]
    assert s.loc[:first - pd.Timedelta(hours=1)].fillna(0).eq(0).all()  # nothing before the first item
    assert s.loc[first] > 0                                              # the good news, when known
    assert frame["news_count_24h"].max() >= 2
    assert np.isfinite(s).sum() > 0
