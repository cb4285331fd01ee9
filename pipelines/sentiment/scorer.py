"""The scorer the pipeline uses: VADER for every text, FinBERT when its weights are present, and
the composite of the two (FinBERT-weighted). Without FinBERT weights it says so once and scores
with VADER alone."""

from __future__ import annotations

import json
import logging
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from pipelines.config.sentiment import SentimentConfig
from pipelines.tickers import parse_tickers
from pipelines.sentiment.finbert import COLUMNS as FINBERT_COLUMNS, FinBertScorer, FinBertUnavailable
from pipelines.sentiment.vader import VaderScorer

log = logging.getLogger(__name__)
SOCIAL_PROVIDERS = frozenset({"reddit", "twitter", "x", "stocktwits"})
SOCIAL_KINDS = frozenset({"social", "post", "comment", "tweet"})
SCORE_COLUMNS = ("score", "label", "vader", "finbert", "p_positive", "p_negative", "p_neutral")


class SentimentScorer:
    """Scores texts with the configured model; ``active`` says what really ran and ``notice``
    why it differs from what was asked (e.g. FinBERT weights absent)."""

    def __init__(self, cfg: SentimentConfig | None = None, finbert: FinBertScorer | None = None) -> None:
        self.cfg = cfg or SentimentConfig()
        self.vader = VaderScorer()
        self.finbert = finbert
        self.notice: str | None = None
        if self.finbert is None and self.cfg.model in ("finbert", "composite"):
            try:
                self.finbert = FinBertScorer.load(self.cfg)
            except FinBertUnavailable as exc:
                self.notice = f"{exc} Falling back to VADER only."
                log.warning("%s", self.notice)

    @property
    def active(self) -> str:
        if self.cfg.model == "vader" or self.finbert is None:
            return "vader"
        return self.cfg.model

    def describe(self) -> dict:
        return {"requested": self.cfg.model, "active": self.active, "notice": self.notice,
                "finbert_path": None if self.finbert is None else str(self.finbert.path),
                "device": None if self.finbert is None else self.finbert.device,
                "weights": {"finbert": self.cfg.finbert_weight, "vader": self.cfg.vader_weight}}

    def score(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> pd.DataFrame:
        """One row per text: score in [-1, 1] (NaN for an empty text), its label and the parts."""
        texts = [("" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t)) for t in texts]
        vader = self.vader.score(texts, progress if self.active == "vader" else None)
        out = pd.DataFrame({"vader": vader["vader"].to_numpy()})
        if self.active == "vader":
            for c in FINBERT_COLUMNS:
                out[c] = np.nan
            score = out["vader"].to_numpy()
        else:
            fb = self.finbert.score(texts, progress)  # type: ignore[union-attr]
            for c in FINBERT_COLUMNS:
                out[c] = fb[c].to_numpy()
            if self.active == "finbert":
                score = out["finbert"].to_numpy()
            else:
                wf, wv = self.cfg.finbert_weight, self.cfg.vader_weight
                score = (wf * out["finbert"].to_numpy() + wv * out["vader"].to_numpy()) / (wf + wv)
        out["score"] = score
        out["label"] = labels(score, self.cfg.neutral_band)
        return out[list(SCORE_COLUMNS)]


def labels(score: np.ndarray, band: float) -> np.ndarray:
    """positive above +band, negative below -band, neutral between; 'none' for NaN."""
    s = np.asarray(score, dtype="float64")
    out = np.where(s > band, "positive", np.where(s < -band, "negative", "neutral")).astype(object)
    out[np.isnan(s)] = "none"
    return out


def news_text(news: pd.DataFrame, mode: str = "headline") -> list[str]:
    """The text scored for each NEWS row: the headline (the summary fills in a missing one), or
    headline and summary together."""
    head = news["headline"].astype("string").fillna("").str.strip() if "headline" in news else None
    summ = news["summary"].astype("string").fillna("").str.strip() if "summary" in news else None
    if head is None and summ is None:
        raise ValueError("news rows need a headline or a summary column to score")
    head = head if head is not None else pd.Series("", index=news.index, dtype="string")
    summ = summ if summ is not None else pd.Series("", index=news.index, dtype="string")
    if mode == "headline_summary":
        text = (head + ". " + summ).str.strip(". ")
    else:
        text = head.where(head.str.len() > 0, summ)
    return text.tolist()


def score_news(news: pd.DataFrame, scorer: SentimentScorer,
               progress: Callable[[int], object] | None = None) -> pd.DataFrame:
    """NEWS rows -> the scored frame the sentiment features read: item_id, provider, kind,
    channel ('news' or 'social'), published_at, known_at, tickers (JSON), the scores. Sorted by
    known_at."""
    if "known_at" not in news.columns:
        raise ValueError("news rows need known_at (the time each item was first seen)")
    scores = scorer.score(news_text(news, scorer.cfg.text), progress)
    base = pd.DataFrame({
        "item_id": news["item_id"].astype("string").to_numpy() if "item_id" in news else None,
        "provider": news["provider"].astype("string").to_numpy() if "provider" in news else None,
        "kind": news["kind"].astype("string").fillna("news").to_numpy() if "kind" in news else "news",
        "published_at": pd.to_datetime(news["published_at"], utc=True).to_numpy()
        if "published_at" in news else pd.NaT,
        "known_at": pd.to_datetime(news["known_at"], utc=True).to_numpy(),
        "tickers": [json.dumps(parse_tickers(t)) for t in news["tickers"]] if "tickers" in news else "[]",
    })
    base["known_at"] = pd.to_datetime(base["known_at"], utc=True)
    base.insert(3, "channel", channel(base["provider"], base["kind"]))
    out = pd.concat([base, scores.reset_index(drop=True)], axis=1)
    return out.sort_values("known_at", kind="stable").reset_index(drop=True)


def channel(provider: pd.Series, kind: pd.Series) -> np.ndarray:
    """'social' for posts (Reddit, X/Twitter, or a row whose kind says so), else 'news'."""
    p = provider.astype("string").fillna("").str.lower()
    k = kind.astype("string").fillna("").str.lower()
    return np.where(p.isin(SOCIAL_PROVIDERS) | k.isin(SOCIAL_KINDS), "social", "news")
