"""Scored news for the features: NEWS rows from the store, each scored once per scorer version.

Scores are stored in the ``sentiment_scores`` table keyed by (item_id, scorer_id), where the
scorer id is a hash of :attr:`SentimentScorer.version` (its models, the finance model's version and
the composite weights). A features build, the CLI and the API read the stored scores and score only
items that this scorer version has not seen. Locally the scorer runs in this process; on a Ray
cluster :func:`score_on_cluster` runs it as a task placed by :mod:`cluster.placement` (the GPU
node when FinBERT is asked for and some node has a GPU; CPU otherwise)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import pandas as pd

from pipelines.config.sentiment import SentimentConfig
from pipelines.sentiment.scorer import (PROVIDER_COLUMNS, SCORE_COLUMNS, SentimentScorer, news_base, news_text)
from pipelines.store.base import Store

SCORED_COLUMNS = (("item_id", "provider", "kind", "channel", "published_at", "known_at", "tickers")
                  + PROVIDER_COLUMNS + SCORE_COLUMNS)


def scorer_id(version: str) -> str:
    """The stored scores' key for a scorer version."""
    return hashlib.sha256(version.encode()).hexdigest()[:16]


def empty_scored() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in SCORED_COLUMNS})
    for c in ("published_at", "known_at"):
        df[c] = pd.Series(dtype="datetime64[ns, UTC]")
    return df


def score_with_stored(news: pd.DataFrame, scorer: SentimentScorer, stored: pd.DataFrame | None = None,
                      progress: Callable[[int], object] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scored frame, newly computed score rows): items already scored by this scorer version
    (in ``stored``) keep their stored scores; the others are scored now."""
    sid = scorer_id(scorer.version)
    news = news.reset_index(drop=True)
    base = news_base(news)
    have = pd.DataFrame(columns=["item_id", *SCORE_COLUMNS])
    if stored is not None and len(stored):
        have = stored[stored["scorer_id"] == sid].drop_duplicates("item_id", keep="last")
    known = base["item_id"].isin(set(have["item_id"])).to_numpy()
    scores = pd.DataFrame(index=base.index, columns=list(SCORE_COLUMNS), dtype="object")
    if known.any():
        scores.loc[known] = (have.set_index("item_id").loc[base.loc[known, "item_id"], list(SCORE_COLUMNS)]
                             .to_numpy())
    fresh = pd.DataFrame(columns=["item_id", "scorer_id", "scorer", "known_at", "scored_at", *SCORE_COLUMNS])
    if (~known).any():
        todo = news.loc[~known]
        new = scorer.score(news_text(todo, scorer.cfg.text), progress)
        scores.loc[~known] = new[list(SCORE_COLUMNS)].to_numpy()
        fresh = new.assign(item_id=base.loc[~known, "item_id"].to_numpy(), scorer_id=sid, scorer=scorer.version,
                           known_at=base.loc[~known, "known_at"].to_numpy(),
                           scored_at=pd.Timestamp.now(tz="UTC"))
    for c in SCORE_COLUMNS:
        scores[c] = scores[c].astype("object" if c == "label" else "float64")
    out = pd.concat([base, scores], axis=1)
    return out.sort_values("known_at", kind="stable").reset_index(drop=True), fresh


def _score_with(news: pd.DataFrame, cfg_json: dict, models_dir: str | None = None,
                stored: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    scorer = SentimentScorer(SentimentConfig.model_validate(cfg_json), models_dir=models_dir)
    scored, fresh = score_with_stored(news, scorer, stored)
    return scored, fresh, scorer.describe()


def score_on_cluster(news: pd.DataFrame, cfg: SentimentConfig, timeout: float = 3600.0,
                     models_dir: str | Path | None = None,
                     stored: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Score NEWS rows as one Ray task where batch inference belongs; returns (scored, fresh
    score rows, describe())."""
    from cluster.placement import run_with_fallback
    folder = None if models_dir is None else str(Path(models_dir).resolve())
    return run_with_fallback(_score_with, news, cfg.model_dump(mode="json"), folder, stored,
                             want_gpu=cfg.model in ("finbert", "composite"), num_cpus=1.0, timeout=timeout)


def scored_news(store: Store, cfg: SentimentConfig, start=None, end=None, *, use_ray: bool = False,
                scorer: SentimentScorer | None = None, progress: Callable[[int], object] | None = None,
                timeout: float = 3600.0, models_dir: str | Path | None = None,
                persist: bool = True) -> tuple[pd.DataFrame, dict]:
    """NEWS rows first seen in [start, end), with this scorer version's scores: stored ones read,
    missing ones computed and (``persist``) stored; the frame ``FeatureContext.news`` takes."""
    news = store.read("news", start=start, end=end)
    if news.empty:
        return empty_scored(), {"requested": cfg.model, "active": None, "notice": "no news stored in the window"}
    stored = store.read("sentiment_scores", {"item_id": list(news["item_id"])})
    if use_ray and scorer is None:
        scored, fresh, info = score_on_cluster(news, cfg, timeout, models_dir, stored)
    else:
        scorer = scorer or SentimentScorer(cfg, models_dir=models_dir)
        scored, fresh = score_with_stored(news, scorer, stored, progress)
        info = scorer.describe()
    if persist and len(fresh):
        store.write("sentiment_scores", fresh)
    info = {**info, "items": int(len(scored)), "scored_now": int(len(fresh)),
            "from_store": int(len(scored) - len(fresh))}
    return scored, info
