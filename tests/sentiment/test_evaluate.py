"""The evaluation helpers: the PhraseBank loader on the real files, the metrics and the IC."""

from __future__ import annotations

import pytest

from pipelines.errors import DataError
from pipelines.sentiment.evaluate import classification_scores, load_phrasebank


@pytest.mark.shared
def test_phrasebank_levels_load_with_their_documented_counts(shared_data):
    folder = shared_data / "financial_phrasebank"
    allagree = load_phrasebank(folder, "AllAgree")
    assert len(allagree) == 2264
    assert allagree["label"].value_counts().to_dict() == {"neutral": 1391, "positive": 570, "negative": 303}
    fifty = load_phrasebank(folder, "50Agree")
    assert len(fifty) == 4846 and fifty["label"].value_counts()["negative"] == 604
    assert set(allagree["text"]) <= set(fifty["text"])  # every all-agree sentence is in 50Agree (latin-1 intact)


def test_phrasebank_format_errors(tmp_path):
    (tmp_path / "Sentences_AllAgree.txt").write_bytes("Sales rose .@positive\nno label here\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 2"):
        load_phrasebank(tmp_path, "AllAgree")
    with pytest.raises(DataError, match="not found"):
        load_phrasebank(tmp_path, "50Agree")


def test_classification_scores():
    y = ["positive", "negative", "neutral", "neutral"]
    m = classification_scores(y, ["positive", "neutral", "neutral", "neutral"])
    assert m["accuracy"] == 0.75 and m["f1"]["negative"] == 0.0 and m["f1"]["positive"] == 1.0
    assert m["macro_f1"] == pytest.approx((0 + 0.8 + 1.0) / 3) and m["majority_accuracy"] == 0.5
