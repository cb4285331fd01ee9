"""Training the finance sentiment model on the Financial PhraseBank and writing its card.

The corpus is split by sentence source (:mod:`pipelines.sentiment.phrasebank`); the saved model
is the one fitted on the training side only, so the card's test metrics describe exactly the
model that is served. VADER is measured on the same test sentences, next to it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.errors import DataError
from pipelines.sentiment.artifact import DEFAULT_NAME, save_artifact
from pipelines.sentiment.evaluate import classification_scores, gold_of_label, pearson
from pipelines.sentiment.linear import FinanceLinearModel
from pipelines.sentiment.phrasebank import corpus_digest, phrasebank_corpus, split_by_source


def _versions() -> dict:
    import sklearn
    import vaderSentiment

    out = {"scikit-learn": sklearn.__version__, "vaderSentiment": getattr(vaderSentiment, "__version__", "3.3.x")}
    try:
        from importlib.metadata import version
        out["finvader"] = version("finvader")
    except Exception:  # not installed: the model then runs without the finance lexicons
        out["finvader"] = None
    return out


def evaluate_model(model: FinanceLinearModel, texts: list[str], labels: pd.Series) -> dict | None:
    """Accuracy, macro-F1, majority baseline and Pearson of the score against -1/0/+1, with speed
    (None for no texts)."""
    if not texts:
        return None
    t0 = time.perf_counter()
    scored = model.score_texts(texts)
    dt = time.perf_counter() - t0
    pred = np.array(["negative", "neutral", "positive"], dtype=object)[
        np.argmax(scored[["p_negative", "p_neutral", "p_positive"]].to_numpy(), axis=1)]
    m = classification_scores(labels.to_numpy(), pred)
    m["pearson"] = pearson(scored["finance"].to_numpy(), gold_of_label(labels))
    m["texts_per_second"] = len(texts) / dt if dt > 0 else None
    return m


def vader_baseline(texts: list[str], labels: pd.Series, band: float = 0.05) -> dict:
    from pipelines.sentiment.scorer import labels as band_labels
    from pipelines.sentiment.vader import VaderScorer

    s = VaderScorer().score(texts)["vader"].to_numpy()
    m = classification_scores(labels.to_numpy(), band_labels(np.nan_to_num(s), band))
    m["pearson"] = pearson(s, gold_of_label(labels))
    return m


def train_phrasebank(folder: str | Path, models: str | Path, *, name: str = DEFAULT_NAME,
                     test_fraction: float = 0.2, seed: int = 0, params: dict | None = None) -> tuple[Path, dict]:
    """Fit on the training sources, measure on the held-out ones, save; returns (folder, card)."""
    corpus = phrasebank_corpus(folder)
    test = split_by_source(corpus, test_fraction, seed)
    train, held = corpus[~test], corpus[test]
    if train.empty or held.empty:
        raise DataError(f"the split by sentence source left {len(train)} training and {len(held)} test "
                        f"sentences: use a larger corpus or another --test-fraction")
    model = FinanceLinearModel(**(params or {}))
    t0 = time.perf_counter()
    model.fit(train["text"].tolist(), train["label"].tolist())
    fit_s = time.perf_counter() - t0
    metrics = {"test": evaluate_model(model, held["text"].tolist(), held["label"]),
               "test_allagree": evaluate_model(model, held.loc[held["agreement"] == 1.0, "text"].tolist(),
                                               held.loc[held["agreement"] == 1.0, "label"]),
               "vader_test": vader_baseline(held["text"].tolist(), held["label"])}
    card = {
        "kind": "finance-linear",
        "description": "logistic regression on word (1-2) and char_wb (2-5) TF-IDF n-grams plus VADER "
                       "and finance-lexicon (finvader: SentiBigNomics, Henry 2008) scores; "
                       "score = P(positive) - P(negative)",
        "params": model.get_params(),
        "outputs": ["finance", "p_positive", "p_negative", "p_neutral"],
        "data": {"corpus": "Financial PhraseBank v1.0 (Malo et al. 2014), all agreement levels",
                 "folder": str(Path(folder).resolve()), "sentences": int(len(corpus)),
                 "dropped_ambiguous": int(corpus.attrs.get("dropped_ambiguous", 0)),
                 "labels": corpus["label"].value_counts().to_dict(), "sha256": corpus_digest(corpus)},
        "split": {"method": "by sentence source (numbers, case and punctuation removed); identical "
                            "sentences across agreement files kept once, at their highest level",
                  "test_fraction": test_fraction, "seed": seed, "train": int(len(train)), "test": int(len(held)),
                  "train_sources": int(train["source"].nunique()), "test_sources": int(held["source"].nunique()),
                  "fitted_on": "train side only"},
        "metrics": metrics,
        "fit_seconds": round(fit_s, 2),
        "libraries": _versions(),
    }
    return save_artifact(model, card, models, name), card
