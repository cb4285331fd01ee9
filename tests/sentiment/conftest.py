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
