"""The asset sentiment view: the configured scorer, stored scores and the provider's own score,
read straight from the service function (the HTTP route is covered by test_api)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sentiment"))

from pipelines.config.sentiment import SentimentConfig  # noqa: E402
from pipelines.sentiment.scorer import SentimentScorer  # noqa: E402
from pipelines.ingest.collectors import write_new_items  # noqa: E402
from pipelines.sources.news import news_frame, news_id  # noqa: E402
from serving.insights import sentiment  # noqa: E402
from serving.schemas import Sentiment  # noqa: E402

NOW = pd.Timestamp("2024-03-10 12:00", tz="UTC")


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory):
    """A models folder with a finance model trained on a small PhraseBank-format corpus."""
    from pipelines.sentiment.train import train_phrasebank
    from sentiment_fixtures import build_mini_phrasebank
    models = tmp_path_factory.mktemp("models")
    train_phrasebank(build_mini_phrasebank(tmp_path_factory.mktemp("pb")), models, test_fraction=0.25)
    return models


def _rows():
    heads = [("Apple profit rose strongly to a record", '[{"ticker": "AAPL", "score": 0.4, "label": "Bullish", '
              '"relevance": 0.9}]', 0.1),
             ("Apple cut jobs after a heavy loss", None, None),
             ("Microsoft sales increased", None, None)]
    rows = []
    for i, (h, per, overall) in enumerate(heads):
        t = NOW - pd.Timedelta(hours=5 - i)
        rows.append({"item_id": news_id("alphavantage", None, f"https://x/{i}", h), "provider": "alphavantage",
                     "published_at": t, "known_at": t, "headline": h, "summary": "", "url": f"https://x/{i}",
                     "source": "Wire" if i else None, "tickers": ["MSFT" if i == 2 else "AAPL"], "kind": "news",
                     "provider_score": overall, "provider_tickers": per})
    return news_frame(rows)


@pytest.mark.parametrize("store", ["parquet"], indirect=True)
def test_view_uses_the_configured_scorer_and_stored_scores(store, trained_models):
    write_new_items(store, _rows())
    scorer = SentimentScorer(SentimentConfig(model="finance"), models_dir=trained_models)
    out = sentiment(store, "AAPL", 7, now=NOW, scorer=scorer)
    Sentiment.model_validate(out)  # the response model accepts it
    assert out["model"]["active"] == "finance" and out["model"]["version"] == scorer.version
    assert out["n_items"] == 2 and [i["label"] for i in out["items"]] == ["negative", "positive"]
    direct = scorer.score([i["headline"] for i in out["items"]])
    assert [i["score"] for i in out["items"]] == pytest.approx(direct["score"].tolist())
    assert out["items"][1]["provider_score"] == 0.4 and out["items"][0]["provider_score"] is None
    assert out["items"][0]["source"] == "Wire" and out["items"][1]["source"] == "alphavantage"
    assert len(store.read("sentiment_scores")) == 3  # every item in the window scored once and stored
    again = sentiment(store, "AAPL", 7, now=NOW, scorer=scorer)
    assert again == out and len(store.read("sentiment_scores")) == 3
    empty = sentiment(store, "AAPL", 1, now=NOW - pd.Timedelta(days=3), scorer=scorer)
    assert empty["n_items"] == 0 and empty["mean_score"] is None


@pytest.mark.parametrize("store", ["parquet"], indirect=True)
def test_service_builds_the_configured_scorer_once_and_says_when_it_cannot(store, tmp_path, trained_models):
    import shutil

    from pipelines.config import MeridianConfig
    from serving.config import ServeAppConfig
    from serving.errors import Unavailable
    from serving.service import MeridianService

    async def nothing(*_a, **_k):
        return {}

    shutil.copytree(trained_models, tmp_path / "home" / "models")  # the models folder of this Meridian home
    meridian = MeridianConfig.model_validate({"home": str(tmp_path / "home"), "sentiment": {"model": "finance"}})
    svc = MeridianService(ServeAppConfig(meridian=meridian), store, nothing, nothing, nothing)
    assert svc.scorer() is svc.scorer() and svc.scorer().active == "finance"
    bad = MeridianConfig.model_validate({"home": str(tmp_path / "empty"), "sentiment": {"model": "finance"}})
    svc = MeridianService(ServeAppConfig(meridian=bad), store, nothing, nothing, nothing)
    with pytest.raises(Unavailable, match="meridian sentiment train"):
        svc.scorer()
