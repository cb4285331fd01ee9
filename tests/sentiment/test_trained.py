"""The finance model Meridian trains: the PhraseBank corpus and its split by sentence source, the
classifier's contract, the versioned artifact with its card, and the scorer loading it by name."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from pipelines.errors import ModelError
from pipelines.sentiment.artifact import load_artifact, resolve, save_artifact, versions
from pipelines.config.sentiment import SentimentConfig
from pipelines.sentiment.lexicon import LexiconScores, finance_lexicon
from pipelines.sentiment.linear import FinanceLinearModel
from pipelines.sentiment.phrasebank import phrasebank_corpus, source_key, split_by_source
from pipelines.sentiment.scorer import SentimentScorer
from sentiment_fixtures import NEGATIVE, NEUTRAL, POSITIVE

TRAIN = ([(t.format(n=5 + i, m=3 + i), "positive") for i, t in enumerate(POSITIVE * 3)]
         + [(t.format(n=5 + i, m=3 + i), "negative") for i, t in enumerate(NEGATIVE * 3)]
         + [(t.format(n=5 + i, m=3 + i), "neutral") for i, t in enumerate(NEUTRAL * 3)])


def test_corpus_dedupes_levels_and_keeps_the_highest(mini_phrasebank):
    c = phrasebank_corpus(mini_phrasebank)
    fifty = (mini_phrasebank / "Sentences_50Agree.txt").read_bytes().decode("latin-1").splitlines()
    # every sentence once, though it is in up to 4 files (and some templates repeat within a file)
    assert len(c) == c["text"].nunique() == len({line.rpartition("@")[0] for line in fifty}) < len(fifty)
    assert set(c["agreement"]) == {1.0, 0.75, 0.66, 0.5}
    allagree = (mini_phrasebank / "Sentences_AllAgree.txt").read_bytes().decode("latin-1").splitlines()
    top = c.set_index("text")["agreement"]
    assert all(top[line.rpartition("@")[0]] == 1.0 for line in allagree)


def test_split_by_source_keeps_near_copies_together(mini_phrasebank):
    assert source_key("Operating profit rose to EUR 13.1 mn .") == source_key("operating profit rose to EUR 8,7 mn")
    assert source_key("Profit rose") != source_key("Profit fell")
    c = phrasebank_corpus(mini_phrasebank)
    test = split_by_source(c, 0.3, seed=1)
    assert 0 < test.sum() < len(c)
    assert not set(c.loc[test, "source"]) & set(c.loc[~test, "source"])
    shuffled = c.sample(frac=1, random_state=3)  # the side of a sentence does not depend on row order
    again = pd.Series(split_by_source(shuffled, 0.3, seed=1), index=shuffled.index).sort_index()
    assert (again.to_numpy() == test).all()
    assert (split_by_source(c, 0.3, seed=2) != test).any()
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_source(c, 1.5)


def test_lexicon_scores_use_the_finance_lexicons():
    lex = finance_lexicon()
    assert lex["declined"] < 0 and len(lex) > 5000  # Henry's list and SentiBigNomics
    x = LexiconScores().fit(["a"]).transform(["Revenue declined", "", "Operating profit rose strongly"])
    assert x.shape == (3, 6) and (x[1] == 0).all()
    assert x[0, 0] == 0 and x[0, 3] < 0  # VADER does not know "declined"; the finance lexicon does
    assert x[2, 3] > 0


def test_linear_model_follows_the_sklearn_contract():
    texts, y = [t for t, _ in TRAIN], [lab for _, lab in TRAIN]
    m = FinanceLinearModel(C=10.0)
    assert not hasattr(m, "pipeline_")
    with pytest.raises(NotFittedError, match="not fitted"):
        m.predict(["Profit rose"])
    assert m.fit(texts, y) is m
    assert list(m.classes_) == ["negative", "neutral", "positive"]
    out = m.score_texts(["Net sales increased strongly and profit rose .", "", "Operating loss widened after job cuts ."])
    assert out.loc[0, "finance"] > 0.2 and out.loc[2, "finance"] < -0.2 and out.loc[1].isna().all()
    assert np.allclose(out.loc[[0, 2], ["p_positive", "p_negative", "p_neutral"]].sum(axis=1), 1.0)
    assert (m.predict(texts) == np.array(y, dtype=object)).mean() > 0.9
    with pytest.raises(ValueError, match="labels must be one of"):
        FinanceLinearModel().fit(["a b", "c d", "e f"], ["good", "bad", "neutral"])
    with pytest.raises(ValueError, match="all three classes"):
        FinanceLinearModel().fit(["a b", "c d"], ["positive", "negative"])
    with pytest.raises(ValueError, match="list of texts"):
        m.predict("Profit rose")


def test_artifact_versions_card_and_tampering(tmp_path):
    m = FinanceLinearModel(lexicons=False).fit([t for t, _ in TRAIN], [lab for _, lab in TRAIN])
    with pytest.raises(ModelError, match="meridian sentiment train"):
        resolve(tmp_path)
    first = save_artifact(m, {"data": {"corpus": "test"}}, tmp_path)
    second = save_artifact(m, {"data": {"corpus": "test", "more": 1}}, tmp_path)
    assert versions(tmp_path) == sorted([first.name, second.name])
    newest = load_artifact(tmp_path)
    assert newest.path == max(first, second, key=lambda p: p.name) and newest.card["data"]["corpus"] == "test"
    assert load_artifact(tmp_path, version=first.name).version == first.name
    with pytest.raises(ModelError, match="no version"):
        load_artifact(tmp_path, version="19990101T000000Z-x")
    (first / "model.joblib").write_bytes(b"changed")
    with pytest.raises(ModelError, match="does not match the sha256"):
        load_artifact(tmp_path, path=first)


def test_training_writes_a_card_that_describes_the_model(trained_models, mini_phrasebank):
    art = load_artifact(trained_models)
    card = art.card
    assert card["kind"] == "finance-linear" and card["name"] == "finance-linear"
    assert card["split"]["train"] + card["split"]["test"] == card["data"]["sentences"]
    assert card["split"]["fitted_on"] == "train side only" and len(card["data"]["sha256"]) == 64
    t = card["metrics"]["test"]
    assert t["n"] == card["split"]["test"] and 0 <= t["accuracy"] <= 1 and t["texts_per_second"] > 0
    assert card["metrics"]["vader_test"]["n"] == t["n"]
    assert json.loads((art.path / "card.json").read_text())["version"] == art.version


def test_scorer_loads_the_trained_model_by_name(trained_models, tmp_path):
    fin = SentimentScorer(SentimentConfig(model="finance"), models_dir=trained_models)
    assert fin.active == "finance" and fin.parts == ["finance"] and fin.notice is None
    texts = ["Net sales increased by 40 % and profit rose .", "The company cut 90 jobs after a heavy loss .",
             "The board consists of 12 members ."]
    out = fin.score(texts)
    assert out["score"].tolist() == out["finance"].tolist()
    assert list(out["label"]) == ["positive", "negative", "neutral"]
    assert fin.version.startswith("finance:" + load_artifact(trained_models).version)

    comp = SentimentScorer(SentimentConfig(model="composite", finbert_repo="meridian-absent/x", finance_weight=2,
                                           vader_weight=1), models_dir=trained_models)
    assert comp.parts == ["finance", "vader"] and comp.active == "composite"
    assert "finbert" not in comp.parts and "not in the local Hugging Face cache" in comp.notice
    c = comp.score(texts)
    assert np.allclose(c["score"], (2 * c["finance"] + c["vader"]) / 3)
    assert comp.describe()["finance_model"]["version"] == load_artifact(trained_models).version

    with pytest.raises(ModelError, match="meridian sentiment train"):
        SentimentScorer(SentimentConfig(model="finance"), models_dir=tmp_path)
    fb = SentimentScorer(SentimentConfig(model="finance", fallback="vader"), models_dir=tmp_path)
    assert fb.active == "vader" and "Scoring with vader" in fb.notice


def test_finbert_without_weights_fails_unless_told_to_fall_back(tmp_path):
    from pipelines.sentiment.finbert import FinBertUnavailable
    with pytest.raises(FinBertUnavailable, match="--finbert-path"):
        SentimentScorer(SentimentConfig(model="finbert", finbert_path=str(tmp_path / "none")))
    s = SentimentScorer(SentimentConfig(model="finbert", finbert_path=str(tmp_path / "none"), fallback="vader"))
    assert s.active == "vader" and "config.json missing" in s.notice


def test_finance_model_with_real_finbert_in_the_composite(trained_models, tiny_finbert):
    s = SentimentScorer(SentimentConfig(model="composite", finbert_path=str(tiny_finbert), device="cpu",
                                        finance_weight=1, finbert_weight=1, vader_weight=1), models_dir=trained_models)
    assert s.parts == ["finance", "finbert", "vader"] and s.notice is None
    out = s.score(["Profit rose", "Heavy loss"])
    assert np.allclose(out["score"], (out["finance"] + out["finbert"] + out["vader"]) / 3)


HEADLINES = __import__("pathlib").Path(__file__).parent / "data" / "headlines_7tickers_gold.csv"


@pytest.mark.shared
def test_phrasebank_model_beats_vader_in_and_out_of_its_corpus(shared_data, tmp_path):
    """Trained on the real PhraseBank's training sources; measured on its held-out sources and on
    hand-labelled headlines of another corpus (news_headlines_7tickers), next to VADER."""
    from pipelines.sentiment.evaluate import classification_scores, load_gold_scores, pearson
    from pipelines.sentiment.train import train_phrasebank

    folder, card = train_phrasebank(shared_data / "financial_phrasebank", tmp_path)
    t, v = card["metrics"]["test"], card["metrics"]["vader_test"]
    assert card["data"]["sentences"] > 4800 and card["split"]["test"] > 800
    assert t["macro_f1"] > 0.7 and t["accuracy"] > t["majority_accuracy"] and t["macro_f1"] > v["macro_f1"] + 0.15
    assert t["pearson"] > v["pearson"] + 0.2 and t["texts_per_second"] > 200

    gold = load_gold_scores(HEADLINES)
    assert len(gold) == 154
    s = SentimentScorer(SentimentConfig(model="finance"), models_dir=tmp_path).score(gold["text"].tolist())
    m = classification_scores(gold["label"], s["label"])
    vader = SentimentScorer(SentimentConfig(model="vader")).score(gold["text"].tolist())
    assert pearson(s["score"], gold["gold"]) >= 0.5 > pearson(vader["score"], gold["gold"])
    assert m["macro_f1"] > m["majority_accuracy"]
    assert m["macro_f1"] > classification_scores(gold["label"], vader["label"])["macro_f1"]
