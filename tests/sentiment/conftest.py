"""Fixtures of the sentiment tests (the builders live in sentiment_fixtures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from sentiment_fixtures import build_tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def tiny_finbert(tmp_path_factory):
    """FinBERT's own label names and id order: 0 positive, 1 negative, 2 neutral."""
    return build_tiny_bert(tmp_path_factory.mktemp("finbert"), {0: "positive", 1: "negative", 2: "neutral"})


@pytest.fixture(scope="session")
def mini_phrasebank(tmp_path_factory):
    from sentiment_fixtures import build_mini_phrasebank
    return build_mini_phrasebank(tmp_path_factory.mktemp("phrasebank"))


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory, mini_phrasebank):
    """A models folder holding one finance-linear version trained on the mini PhraseBank."""
    from pipelines.sentiment.train import train_phrasebank
    models = tmp_path_factory.mktemp("models")
    train_phrasebank(mini_phrasebank, models, test_fraction=0.25, seed=0)
    return models
