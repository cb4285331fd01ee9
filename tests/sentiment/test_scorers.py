"""Scorers: VADER on plain cases, FinBERT's real loading/batching/label mapping on tiny BERT
checkpoints built here, the VADER-only fallback without weights, and the composite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.errors import ModelError
from pipelines.config.sentiment import SentimentConfig
from pipelines.sentiment.finbert import FinBertScorer, FinBertUnavailable, label_index
from pipelines.sentiment.scorer import SentimentScorer, labels, news_text, score_news
from sentiment_fixtures import build_tiny_bert

TEXTS = ["Operating profit rose strongly to a record EUR 12 million .",
         "Net sales fell and the company cut jobs after a loss .",
         "The company said the quarter will be reported in the year .",
         "",
         "Shares beat guidance , growth strong , margin up , debt down , stock market rose , profits increased"]


def test_vader_scores_plain_cases():
    s = SentimentScorer(SentimentConfig(model="vader")).score(["Profits rose, a great result", "A terrible loss", ""])
    assert s["score"][0] > 0.5 and s["label"][0] == "positive"
    assert s["score"][1] < -0.5 and s["label"][1] == "negative"
    assert np.isnan(s["score"][2]) and s["label"][2] == "none"
    assert s["finbert"].isna().all()


def _reference_probs(path, texts):
    """Class probabilities straight from the model's logits, one text at a time."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    out = []
    with torch.no_grad():
        for t in texts:
            p = torch.softmax(model(**tok(t, return_tensors="pt")).logits, -1)[0].numpy()
            out.append({model.config.id2label[i]: float(p[i]) for i in range(3)})
    return out


def test_finbert_loads_batches_and_maps_labels(tiny_finbert):
    cfg = SentimentConfig(model="finbert", finbert_path=str(tiny_finbert), batch_size=2, device="cpu")
    fb = FinBertScorer.load(cfg)
    got = fb.score(TEXTS)
    ref = _reference_probs(tiny_finbert, [t for t in TEXTS if t])
    rows = [i for i, t in enumerate(TEXTS) if t]
    for i, r in zip(rows, ref):
        assert got.loc[i, "p_positive"] == pytest.approx(r["positive"], abs=1e-5)
        assert got.loc[i, "p_negative"] == pytest.approx(r["negative"], abs=1e-5)
        assert got.loc[i, "p_neutral"] == pytest.approx(r["neutral"], abs=1e-5)
    assert got.loc[3].isna().all()  # the empty text
    assert np.allclose(got["finbert"], got["p_positive"] - got["p_negative"], equal_nan=True)
    # padding in a batch changes nothing: batch of 4 == one at a time
    one = FinBertScorer.load(cfg.model_copy(update={"batch_size": 1})).score(TEXTS)
    assert np.allclose(one.to_numpy(), got.to_numpy(), atol=1e-5, equal_nan=True)
    assert got.loc[rows, "finbert"].nunique() == len(rows)  # the scores depend on the text
    long = fb.score([" ".join(["profit rose"] * 200)])  # past the model's 64 positions: truncated
    assert long["p_positive"].notna().all() and fb.cfg.max_length == 64


def test_other_label_orders_map_by_name(tmp_path):
    """finbert-tone style (Neutral, Positive, Negative) and generic LABEL_i with label_order."""
    tone = build_tiny_bert(tmp_path / "tone", {0: "Neutral", 1: "Positive", 2: "Negative"}, seed=1)
    s = FinBertScorer.load(SentimentConfig(finbert_path=str(tone), device="cpu")).score(TEXTS[:2])
    ref = _reference_probs(tone, TEXTS[:2])
    assert s.loc[0, "p_positive"] == pytest.approx(ref[0]["Positive"], abs=1e-5)
    assert s.loc[1, "p_neutral"] == pytest.approx(ref[1]["Neutral"], abs=1e-5)
    assert label_index({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ("neutral", "positive", "negative")) == \
        {"LABEL_0": "neutral", "LABEL_1": "positive", "LABEL_2": "negative"}
    with pytest.raises(ModelError, match="not positive/negative/neutral"):
        label_index({0: "joy", 1: "anger", 2: "neutral"})


def test_no_weights_falls_back_to_vader_with_a_clear_message(tmp_path):
    with pytest.raises(FinBertUnavailable, match="config.json missing"):
        FinBertScorer.load(SentimentConfig(finbert_path=str(tmp_path)))
    cfg = SentimentConfig(model="composite", finbert_repo="meridian-absent/finbert-not-cached")
    s = SentimentScorer(cfg)
    assert s.active == "vader" and "not in the local Hugging Face cache" in s.notice
    assert "nothing is downloaded" in s.notice
    out = s.score(TEXTS[:2])
    assert out["score"].tolist() == out["vader"].tolist()


def test_composite_weights(tiny_finbert):
    cfg = SentimentConfig(model="composite", finbert_path=str(tiny_finbert), finbert_weight=3, vader_weight=1,
                          device="cpu", neutral_band=0.1)
    s = SentimentScorer(cfg)
    assert s.active == "composite" and s.describe()["device"] == "cpu"
    out = s.score(TEXTS)
    exp = (3 * out["finbert"] + out["vader"]) / 4
    assert np.allclose(out["score"], exp, equal_nan=True)
    assert (out["label"] == labels(exp.to_numpy(), 0.1)).all()
    with pytest.raises(ValueError):
        SentimentConfig(finbert_weight=0, vader_weight=0)


def test_score_news_rows():
    news = pd.DataFrame({"item_id": ["a", "b", "c"], "provider": ["finnhub", "reddit", "finnhub"],
                         "kind": ["company", "post", None],
                         "published_at": pd.to_datetime(["2024-01-01 10:00"] * 3, utc=True),
                         "known_at": pd.to_datetime(["2024-01-01 12:00", "2024-01-01 10:05", "2024-01-01 11:00"], utc=True),
                         "headline": ["Apple profits soar to a record", "this stock is a disaster", None],
                         "summary": ["", "", "Weak demand hurts sales badly"],
                         "tickers": ['["AAPL"]', "aapl,msft", None]})
    out = score_news(news, SentimentScorer(SentimentConfig(model="vader")))
    assert out["item_id"].tolist() == ["b", "c", "a"]  # by first-seen time
    assert out["channel"].tolist() == ["social", "news", "news"]
    assert out["tickers"].tolist() == ['["AAPL", "MSFT"]', "[]", '["AAPL"]']
    assert out.loc[2, "score"] > 0 and out.loc[1, "score"] < 0  # the summary stands in for a missing headline
    assert news_text(news, "headline_summary")[2] == "Weak demand hurts sales badly"
    with pytest.raises(ValueError, match="known_at"):
        score_news(news.drop(columns="known_at"), SentimentScorer(SentimentConfig(model="vader")))


@pytest.mark.gpu
def test_finbert_runs_on_the_gpu_when_there_is_one(tiny_finbert):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    gpu = FinBertScorer.load(SentimentConfig(finbert_path=str(tiny_finbert), device="auto"))
    cpu = FinBertScorer.load(SentimentConfig(finbert_path=str(tiny_finbert), device="cpu"))
    assert gpu.device.startswith("cuda")
    assert np.allclose(gpu.score(TEXTS).to_numpy(), cpu.score(TEXTS).to_numpy(), atol=1e-3, equal_nan=True)
