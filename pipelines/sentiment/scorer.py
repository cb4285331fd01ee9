"""The scorer the pipeline uses: VADER for every text, the finance model Meridian trains
(``meridian sentiment train``), FinBERT when its weights are present, and the weighted composite
of those that load (it says which). Asked for FinBERT or the finance model alone, it fails with
what to do when that model cannot load, unless ``fallback`` is ``vader``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from pipelines.config.sentiment import SentimentConfig
from pipelines.errors import ModelError
from pipelines.tickers import parse_tickers
from pipelines.sentiment.finbert import COLUMNS as FINBERT_COLUMNS, FinBertScorer, FinBertUnavailable
from pipelines.sentiment.vader import VaderScorer

log = logging.getLogger(__name__)
SOCIAL_PROVIDERS = frozenset({"reddit", "twitter", "x", "stocktwits"})
SOCIAL_KINDS = frozenset({"social", "post", "comment", "tweet"})
SCORE_COLUMNS = ("score", "label", "vader", "finance", "finbert", "p_positive", "p_negative", "p_neutral")
FINBERT_HINT = ("pass --finbert-path DIR (a folder saved with save_pretrained: config.json, weights, "
                "tokenizer) or set MERIDIAN__SENTIMENT__FINBERT_PATH; or --fallback vader to score with VADER")


class SentimentScorer:
    """Scores texts with the configured model; ``active`` says what really ran, ``parts`` which
    models the score combines and ``notice`` why that differs from what was asked."""

    def __init__(self, cfg: SentimentConfig | None = None, finbert: FinBertScorer | None = None,
                 models_dir: str | Path | None = None, finance=None) -> None:
        self.cfg = cfg or SentimentConfig()
        self.models_dir = None if models_dir is None else Path(models_dir)
        self.vader = VaderScorer()
        self.finbert = finbert
        self.finance = finance  # a TrainedArtifact
        notices: list[str] = []
        want = self.cfg.model
        if self.finance is None and want in ("finance", "composite"):
            try:
                self.finance = self._load_finance()
            except ModelError as exc:
                if want == "finance" and self.cfg.fallback != "vader":
                    raise
                notices.append(f"{exc}")
        if self.finbert is None and want in ("finbert", "composite"):
            try:
                self.finbert = FinBertScorer.load(self.cfg)
            except FinBertUnavailable as exc:
                if want == "finbert" and self.cfg.fallback != "vader":
                    raise FinBertUnavailable(f"{exc} To score with FinBERT, {FINBERT_HINT}.") from None
                notices.append(f"{exc}")
        self.notice: str | None = None
        if notices:
            self.notice = " ".join(notices) + f" Scoring with {' + '.join(self.parts)}."
            # an explicit model that fell back is worth a warning; a composite part that is absent is not
            (log.info if want == "composite" else log.warning)("%s", self.notice)

    def _load_finance(self):
        from pipelines.sentiment.artifact import load_artifact

        if self.cfg.finance_path is None and self.models_dir is None:
            raise ModelError("no models folder given for the trained finance model: set "
                             "sentiment.finance_path or score through the CLI/jobs (they pass the folder)")
        return load_artifact(self.models_dir or ".", self.cfg.finance_name, self.cfg.finance_version,
                             self.cfg.finance_path)

    @property
    def parts(self) -> list[str]:
        """The models the score is made of, in order of weight."""
        want = self.cfg.model
        if want == "vader":
            return ["vader"]
        if want in ("finance", "finbert"):
            loaded = self.finance if want == "finance" else self.finbert
            return [want] if loaded is not None else ["vader"]
        out = [n for n, m in (("finance", self.finance), ("finbert", self.finbert)) if m is not None]
        return out + ["vader"]

    @property
    def active(self) -> str:
        p = self.parts
        return p[0] if len(p) == 1 else "composite"

    @property
    def version(self) -> str:
        """Identifies the scores: the parts, with the finance model's version and the weights."""
        tags = []
        for p in self.parts:
            if p == "finance":
                tags.append(f"finance:{self.finance.version}")
            elif p == "finbert":
                tags.append(f"finbert:{Path(str(self.finbert.path)).name}")
            else:
                tags.append("vader:3")
        if len(tags) > 1:
            tags.append(f"w={self.cfg.finance_weight:g}/{self.cfg.finbert_weight:g}/{self.cfg.vader_weight:g}")
        return "|".join(tags)

    def describe(self) -> dict:
        return {"requested": self.cfg.model, "active": self.active, "parts": self.parts, "version": self.version,
                "notice": self.notice,
                "finance_model": None if self.finance is None else
                {"name": self.finance.name, "version": self.finance.version, "path": str(self.finance.path)},
                "finbert_path": None if self.finbert is None else str(self.finbert.path),
                "device": None if self.finbert is None else self.finbert.device,
                "weights": {"finance": self.cfg.finance_weight, "finbert": self.cfg.finbert_weight,
                            "vader": self.cfg.vader_weight}}

    def score(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> pd.DataFrame:
        """One row per text: score in [-1, 1] (NaN for an empty text), its label and the parts."""
        texts = [("" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t)) for t in texts]
        parts = self.parts
        vader = self.vader.score(texts, progress if parts == ["vader"] else None)
        out = pd.DataFrame({"vader": vader["vader"].to_numpy()})
        out["finance"] = np.nan
        for c in FINBERT_COLUMNS:
            out[c] = np.nan
        fin = None
        if "finance" in parts:
            fin = self.finance.model.score_texts(texts)
            out["finance"] = fin["finance"].to_numpy()
            if progress is not None and "finbert" not in parts:
                progress(len(texts))
        if "finbert" in parts:
            fb = self.finbert.score(texts, progress)  # type: ignore[union-attr]
            for c in FINBERT_COLUMNS:
                out[c] = fb[c].to_numpy()
        if len(parts) == 1:
            score = out[parts[0]].to_numpy()
        else:
            w = {"finance": self.cfg.finance_weight, "finbert": self.cfg.finbert_weight, "vader": self.cfg.vader_weight}
            score = sum(w[p] * out[p].to_numpy() for p in parts) / sum(w[p] for p in parts)
        out["score"] = score
        if parts == ["finance"]:  # the classifier's own decision: the most probable class
            probs = fin[["p_negative", "p_neutral", "p_positive"]].to_numpy()
            lab = np.array(["negative", "neutral", "positive"], dtype=object)[np.nanargmax(np.nan_to_num(probs, nan=-1), axis=1)]
            lab[np.isnan(score)] = "none"
            out["label"] = lab
        else:
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


PROVIDER_COLUMNS = ("provider_score", "provider_label", "provider_tickers")


def news_base(news: pd.DataFrame) -> pd.DataFrame:
    """NEWS rows -> the item columns of the scored frame: item_id, provider, kind, channel,
    published_at, known_at, tickers (JSON) and the provider's own sentiment (when sent)."""
    if "known_at" not in news.columns:
        raise ValueError("news rows need known_at (the time each item was first seen)")
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
    base["provider_score"] = (pd.to_numeric(news["provider_score"], errors="coerce").to_numpy(dtype="float64")
                              if "provider_score" in news else np.nan)
    for c in ("provider_label", "provider_tickers"):
        base[c] = news[c].astype("string").to_numpy() if c in news else pd.NA
    return base


def score_news(news: pd.DataFrame, scorer: SentimentScorer,
               progress: Callable[[int], object] | None = None) -> pd.DataFrame:
    """NEWS rows -> the scored frame the sentiment features read: the item columns of
    :func:`news_base` and the scores. Sorted by known_at."""
    base = news_base(news)
    scores = scorer.score(news_text(news, scorer.cfg.text), progress)
    out = pd.concat([base, scores.reset_index(drop=True)], axis=1)
    return out.sort_values("known_at", kind="stable").reset_index(drop=True)


def channel(provider: pd.Series, kind: pd.Series) -> np.ndarray:
    """'social' for posts (Reddit, X/Twitter, or a row whose kind says so), else 'news'."""
    p = provider.astype("string").fillna("").str.lower()
    k = kind.astype("string").fillna("").str.lower()
    return np.where(p.isin(SOCIAL_PROVIDERS) | k.isin(SOCIAL_KINDS), "social", "news")
