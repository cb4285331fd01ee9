"""A finance sentiment classifier Meridian trains itself: a multinomial logistic regression on
word n-grams, character n-grams (robust to inflections, tickers and typos of posts) and the
VADER / finance-lexicon scores of :mod:`pipelines.sentiment.lexicon`.

Follows scikit-learn's contract: ``__init__`` stores parameters, ``fit`` returns self, learned
state ends in ``_``. The score of a text is P(positive) - P(negative), in [-1, 1].
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError

from pipelines.sentiment.evaluate import CLASSES
from pipelines.sentiment.lexicon import LexiconScores

COLUMNS = ("finance", "p_positive", "p_negative", "p_neutral")


class FinanceLinearModel(BaseEstimator, ClassifierMixin):
    """Word (1-2) and char_wb (2-5) TF-IDF n-grams + lexicon scores -> logistic regression."""

    def __init__(self, C: float = 4.0, word_ngrams: tuple[int, int] = (1, 2),
                 char_ngrams: tuple[int, int] = (2, 5), lexicons: bool = True,
                 lexicon_weight: float = 1.0, class_weight: str | None = "balanced",
                 min_df: int = 2, max_iter: int = 2000) -> None:
        self.C = C
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.lexicons = lexicons
        self.lexicon_weight = lexicon_weight
        self.class_weight = class_weight
        self.min_df = min_df
        self.max_iter = max_iter

    def _pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, Pipeline

        parts = [("word", TfidfVectorizer(ngram_range=tuple(self.word_ngrams), min_df=self.min_df,
                                          sublinear_tf=True, lowercase=True)),
                 ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams),
                                          min_df=self.min_df, sublinear_tf=True, lowercase=True))]
        weights = {"word": 1.0, "char": 1.0}
        if self.lexicons:
            parts.append(("lexicon", LexiconScores(finance=True)))
            weights["lexicon"] = self.lexicon_weight
        return Pipeline([("features", FeatureUnion(parts, transformer_weights=weights)),
                         ("clf", LogisticRegression(C=self.C, class_weight=self.class_weight,
                                                    max_iter=self.max_iter))])

    def fit(self, X: Sequence[str], y: Sequence[str], sample_weight=None) -> "FinanceLinearModel":
        X, y = _texts(X), np.asarray(y, dtype=object)
        if len(X) != len(y):
            raise ValueError(f"{len(X)} texts but {len(y)} labels")
        unknown = sorted(set(y) - set(CLASSES))
        if unknown:
            raise ValueError(f"labels must be one of {CLASSES}; got {unknown[:3]}")
        if len(set(y)) < 3:
            raise ValueError(f"training needs all three classes {CLASSES}; got {sorted(set(y))}")
        pipe = self._pipeline()
        pipe.fit(X, y, clf__sample_weight=sample_weight)
        self.pipeline_ = pipe
        self.classes_ = pipe.classes_
        return self

    def _check(self) -> None:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("FinanceLinearModel is not fitted: call fit() or load a trained artifact")

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        self._check()
        return self.pipeline_.predict_proba(_texts(X))

    def predict(self, X: Sequence[str]) -> np.ndarray:
        self._check()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score_texts(self, texts: Sequence[str]) -> pd.DataFrame:
        """One row per text: finance score P(pos) - P(neg) and the class probabilities; an empty
        text scores NaN."""
        self._check()
        texts = _texts(texts)
        out = np.full((len(texts), len(COLUMNS)), np.nan)
        idx = [i for i, t in enumerate(texts) if t.strip()]
        if idx:
            p = self.predict_proba([texts[i] for i in idx])
            col = {c: j for j, c in enumerate(self.classes_)}
            out[idx, 1] = p[:, col["positive"]]
            out[idx, 2] = p[:, col["negative"]]
            out[idx, 3] = p[:, col["neutral"]]
            out[idx, 0] = out[idx, 1] - out[idx, 2]
        return pd.DataFrame(out, columns=list(COLUMNS))


def _texts(X) -> list[str]:
    if isinstance(X, str):
        raise ValueError("pass a list of texts, not one string")
    return ["" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t) for t in X]
