"""Configuration of the sentiment scorers and of how their scores become labels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipelines.config.base import Frozen

from pipelines.config.collectors import SentimentSourcesConfig

FINBERT_LABELS = ("positive", "negative", "neutral")  # ProsusAI/finbert's id order


class SentimentConfig(Frozen):
    """Which scorer runs, where FinBERT's weights are and how the composite is formed."""

    model: Literal["vader", "finbert", "finance", "composite"] = Field(
        "composite", description="scorer: VADER only, FinBERT only, the finance model Meridian trains "
        "(`meridian sentiment train`) only, or the weighted composite of those that load")
    fallback: Literal["none", "vader"] = Field(
        "none", description="when the asked finbert/finance model cannot load: fail (none) or score with VADER")
    finance_name: str = Field("finance-linear", description="name of the trained finance model (models folder)")
    finance_version: str | None = Field(None, description="version of it to load; None = the newest")
    finance_path: str | None = Field(None, description="a trained model folder, instead of name and version")
    finance_weight: float = Field(1.0, ge=0, description="weight of the trained finance model in the composite")
    finbert_path: str | None = Field(
        None, description="local folder holding a FinBERT checkpoint (config, weights, tokenizer)")
    finbert_repo: str = Field(
        "ProsusAI/finbert", description="model id looked up in the local Hugging Face cache only")
    label_order: tuple[str, str, str] = Field(
        FINBERT_LABELS, description="class names by id, used when the checkpoint names them LABEL_i")
    batch_size: int = Field(32, gt=0, description="texts per FinBERT forward pass")
    max_length: int = Field(128, gt=8, description="tokens kept per text (longer texts are truncated)")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = the GPU when torch sees one")
    finbert_weight: float = Field(0.7, ge=0, description="weight of FinBERT in the composite score")
    vader_weight: float = Field(0.3, ge=0, description="weight of VADER in the composite score")
    neutral_band: float = Field(0.05, ge=0, lt=1, description="|score| at or below this is neutral")
    text: Literal["headline", "headline_summary"] = Field(
        "headline", description="what of a news item is scored (the summary fills in a missing headline)")
    sources: SentimentSourcesConfig = Field(SentimentSourcesConfig(), description="the collectors")

    @model_validator(mode="after")
    def _weights(self) -> "SentimentConfig":
        if self.finbert_weight + self.vader_weight <= 0:
            raise ValueError("finbert_weight + vader_weight must be positive")
        if self.finance_weight + self.vader_weight <= 0:
            raise ValueError("finance_weight + vader_weight must be positive")
        if sorted(self.label_order) != sorted(FINBERT_LABELS):
            raise ValueError(f"label_order must be a permutation of {FINBERT_LABELS}")
        return self


def label_of(score: float, band: float) -> str:
    """positive above +band, negative below -band, else neutral."""
    if score > band:
        return "positive"
    if score < -band:
        return "negative"
    return "neutral"
