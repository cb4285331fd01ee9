"""Finance lexicon scores as model inputs: VADER's own lexicon, and VADER with the financial
lexicons that the ``finvader`` package ships (SentiBigNomics, scaled by 0.1 as finvader does, and
Henry's 2008 earnings-press-release word list).

The lexicons are read from finvader's module files without importing the ``finvader`` package,
whose ``__init__`` calls ``nltk.download`` (a network fetch at import time); the rules are
vaderSentiment's, which ships its lexicon.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from pipelines.errors import ModelError

COLUMNS = ("vader_compound", "vader_pos", "vader_neg", "fin_compound", "fin_pos", "fin_neg")
SENTIBIGNOMICS_SCALE = 0.1  # finvader's own constant for the SentiBigNomics weights


def _finvader_module(name: str):
    """Load ``finvader/<name>.py`` as a stand-alone module (the package ``__init__`` is not run)."""
    spec = importlib.util.find_spec("finvader")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the finvader package is not installed: pip install 'finvader>=1.0.4,<1.1'")
    path = Path(list(spec.submodule_search_locations)[0]) / f"{name}.py"
    mod_spec = importlib.util.spec_from_file_location(f"_meridian_finvader_{name}", path)
    if mod_spec is None or mod_spec.loader is None or not path.is_file():
        raise ModelError(f"finvader has no {name}.py at {path}: reinstall finvader>=1.0.4,<1.1")
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def finance_lexicon() -> dict[str, float]:
    """SentiBigNomics (x 0.1) merged with Henry's list (Henry wins on shared words), as finvader."""
    senti = {k: v * SENTIBIGNOMICS_SCALE for k, v in _finvader_module("SentiBignomics").lexicon1().items()}
    return {**senti, **_finvader_module("Henry").lexicon2()}


class LexiconScores(BaseEstimator, TransformerMixin):
    """Texts -> (n, 6) float array: compound, positive and negative proportions under VADER's
    lexicon and under VADER extended with the finance lexicons. Stateless: ``fit`` learns nothing,
    so it is safe inside a pipeline fitted on a training split."""

    def __init__(self, finance: bool = True) -> None:
        self.finance = finance

    def fit(self, X, y=None) -> "LexiconScores":
        return self

    def _analyzers(self):
        cached = self.__dict__.get("_analyzers_cache")
        if cached is not None:
            return cached
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        plain = SentimentIntensityAnalyzer()
        fin = None
        if self.finance:
            fin = SentimentIntensityAnalyzer()
            fin.lexicon.update(finance_lexicon())
        self.__dict__["_analyzers_cache"] = (plain, fin)
        return plain, fin

    def transform(self, X: Sequence[str]) -> np.ndarray:
        plain, fin = self._analyzers()
        out = np.zeros((len(X), len(COLUMNS)), dtype="float64")
        for i, text in enumerate(X):
            text = "" if text is None else str(text)
            if not text.strip():
                continue
            a = plain.polarity_scores(text)
            out[i, :3] = (a["compound"], a["pos"], a["neg"])
            if fin is not None:
                b = fin.polarity_scores(text)
                out[i, 3:] = (b["compound"], b["pos"], b["neg"])
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(COLUMNS, dtype=object)

    def __getstate__(self):  # the analyzers are rebuilt after loading, never pickled
        state = dict(super().__getstate__())
        state.pop("_analyzers_cache", None)
        return state
