"""Scored news for the features: NEWS rows from the store, scored where batch inference belongs.

Locally the scorer runs in this process. On a Ray cluster :func:`score_on_cluster` runs it as a
task placed by :mod:`cluster.placement` (the GPU node when FinBERT is asked for and some node has
a GPU; CPU otherwise, and again on CPU if the GPU node is lost)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from pipelines.sentiment.config import SentimentConfig
from pipelines.sentiment.scorer import SCORE_COLUMNS, SentimentScorer, score_news
from pipelines.store.base import Store

SCORED_COLUMNS = ("item_id", "provider", "kind", "channel", "published_at", "known_at", "tickers") + SCORE_COLUMNS


def empty_scored() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in SCORED_COLUMNS})
    for c in ("published_at", "known_at"):
        df[c] = pd.Series(dtype="datetime64[ns, UTC]")
    return df


def _score_with(news: pd.DataFrame, cfg_json: dict, models_dir: str | None = None) -> tuple[pd.DataFrame, dict]:
    scorer = SentimentScorer(SentimentConfig.model_validate(cfg_json), models_dir=models_dir)
    return score_news(news, scorer), scorer.describe()


def score_on_cluster(news: pd.DataFrame, cfg: SentimentConfig, timeout: float = 3600.0,
                     models_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """Score NEWS rows as one Ray task where batch inference belongs; returns (scored, describe())."""
    from cluster.placement import run_with_fallback
    folder = None if models_dir is None else str(Path(models_dir).resolve())
    return run_with_fallback(_score_with, news, cfg.model_dump(mode="json"), folder,
                             want_gpu=cfg.model in ("finbert", "composite"), num_cpus=1.0, timeout=timeout)


def scored_news(store: Store, cfg: SentimentConfig, start=None, end=None, *, use_ray: bool = False,
                scorer: SentimentScorer | None = None, progress: Callable[[int], object] | None = None,
                timeout: float = 3600.0, models_dir: str | Path | None = None) -> tuple[pd.DataFrame, dict]:
    """NEWS rows first seen in [start, end), scored; the frame ``FeatureContext.news`` takes."""
    news = store.read("news", start=start, end=end)
    if news.empty:
        return empty_scored(), {"requested": cfg.model, "active": None, "notice": "no news stored in the window"}
    if use_ray:
        return score_on_cluster(news, cfg, timeout, models_dir)
    scorer = scorer or SentimentScorer(cfg, models_dir=models_dir)
    return score_news(news, scorer, progress), scorer.describe()
