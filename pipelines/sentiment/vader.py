"""VADER: a lexicon and rules scorer (vaderSentiment ships its lexicon), fast and always there."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import pandas as pd

COLUMNS = ("vader", "vader_pos", "vader_neg", "vader_neu")


class VaderScorer:
    """Compound score in [-1, 1] plus VADER's positive/negative/neutral proportions per text."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> pd.DataFrame:
        """One row per text; an empty text scores NaN (nothing was said)."""
        out = np.full((len(texts), len(COLUMNS)), np.nan)
        for i, text in enumerate(texts):
            if text and text.strip():
                s = self._analyzer.polarity_scores(text)
                out[i] = (s["compound"], s["pos"], s["neg"], s["neu"])
            if progress is not None:
                progress(1)
        return pd.DataFrame(out, columns=list(COLUMNS))
