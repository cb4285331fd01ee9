"""FinBERT through a transformers text-classification pipeline, from local weights only.

The checkpoint comes from ``finbert_path`` or the local Hugging Face cache (``finbert_repo``);
nothing is ever downloaded (``local_files_only`` and ``HF_HUB_OFFLINE``). Class names are mapped
by name (positive/negative/neutral, any case) and, for checkpoints that call them LABEL_i, by the
configured ``label_order``. The score is P(positive) - P(negative), in [-1, 1].
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from pipelines.errors import ModelError
from pipelines.config.sentiment import FINBERT_LABELS, SentimentConfig

log = logging.getLogger(__name__)
COLUMNS = ("finbert", "p_positive", "p_negative", "p_neutral")
_ALIASES = {"pos": "positive", "positive": "positive", "bullish": "positive",
            "neg": "negative", "negative": "negative", "bearish": "negative",
            "neu": "neutral", "neutral": "neutral"}


class FinBertUnavailable(ModelError):
    """No FinBERT checkpoint could be found locally."""


def find_checkpoint(cfg: SentimentConfig) -> Path:
    """The local folder holding the checkpoint, or a FinBertUnavailable that says where we looked."""
    if cfg.finbert_path:
        p = Path(cfg.finbert_path).expanduser()
        if (p / "config.json").is_file():
            return p
        raise FinBertUnavailable(f"no FinBERT checkpoint at {p} (config.json missing): set "
                                 f"sentiment.finbert_path to a folder saved with save_pretrained")
    try:
        from huggingface_hub import snapshot_download
        snap = Path(snapshot_download(cfg.finbert_repo, local_files_only=True))
    except Exception as exc:  # not in the cache: the hub raises its own LocalEntryNotFoundError
        raise FinBertUnavailable(
            f"FinBERT weights not found: sentiment.finbert_path is unset and {cfg.finbert_repo} is not "
            f"in the local Hugging Face cache ({type(exc).__name__}). Copy a checkpoint to this machine "
            f"and set MERIDIAN__SENTIMENT__FINBERT_PATH; nothing is downloaded at run time.") from None
    if not (snap / "config.json").is_file():
        raise FinBertUnavailable(f"{cfg.finbert_repo} in the local cache has no config.json ({snap})")
    return snap


def label_index(id2label: dict[int, str], label_order: Sequence[str] = FINBERT_LABELS) -> dict[str, str]:
    """Pipeline label name -> canonical class (positive/negative/neutral)."""
    out: dict[str, str] = {}
    for i, raw in sorted(id2label.items()):
        name = _ALIASES.get(str(raw).strip().lower())
        if name is None and str(raw).upper().startswith("LABEL_") and int(i) < len(label_order):
            name = label_order[int(i)]
        if name is None:
            raise ModelError(f"FinBERT checkpoint has a class {raw!r} that is not positive/negative/neutral")
        out[str(raw)] = name
    if sorted(out.values()) != sorted(FINBERT_LABELS):
        raise ModelError(f"FinBERT checkpoint classes {sorted(id2label.values())} do not map one-to-one "
                         f"onto {FINBERT_LABELS}")
    return out


def pick_device(device: str) -> int:
    """transformers device index: 0 for the first GPU, -1 for the CPU."""
    import torch
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ModelError("sentiment.device is cuda but torch sees no GPU: use auto or cpu")
        return 0
    return 0 if device == "auto" and torch.cuda.is_available() else -1


class FinBertScorer:
    """A loaded FinBERT pipeline; ``score`` runs it in batches."""

    name = "finbert"

    def __init__(self, pipe, labels: dict[str, str], cfg: SentimentConfig, path: Path) -> None:
        self._pipe, self._labels, self.cfg, self.path = pipe, labels, cfg, path

    @classmethod
    def load(cls, cfg: SentimentConfig) -> "FinBertScorer":
        path = find_checkpoint(cfg)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
        try:
            model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
            tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise FinBertUnavailable(f"cannot load the FinBERT checkpoint at {path}: {exc}") from None
        labels = label_index({int(k): v for k, v in model.config.id2label.items()}, cfg.label_order)
        limit = min(cfg.max_length, int(getattr(model.config, "max_position_embeddings", cfg.max_length)))
        if limit < cfg.max_length:
            cfg = cfg.model_copy(update={"max_length": limit})
        device = pick_device(cfg.device)
        pipe = pipeline("text-classification", model=model, tokenizer=tok, device=device, top_k=None)
        log.info("FinBERT loaded from %s on %s", path, "cuda:0" if device >= 0 else "cpu")
        return cls(pipe, labels, cfg, path)

    @property
    def device(self) -> str:
        return str(self._pipe.device)

    def score(self, texts: Sequence[str], progress: Callable[[int], object] | None = None) -> pd.DataFrame:
        """Class probabilities and P(pos) - P(neg) per text; empty texts score NaN."""
        out = np.full((len(texts), len(COLUMNS)), np.nan)
        idx = [i for i, t in enumerate(texts) if t and t.strip()]
        col = {"positive": 1, "negative": 2, "neutral": 3}
        step = self.cfg.batch_size * 8  # several pipeline batches per progress update
        for start in range(0, len(idx), step):
            chunk = idx[start:start + step]
            results = self._pipe([texts[i] for i in chunk], batch_size=self.cfg.batch_size,
                                 truncation=True, max_length=self.cfg.max_length)
            for i, res in zip(chunk, results):
                for item in res:
                    out[i, col[self._labels[item["label"]]]] = item["score"]
            if progress is not None:
                progress(len(chunk))
        out[:, 0] = out[:, 1] - out[:, 2]
        if progress is not None and len(texts) > len(idx):
            progress(len(texts) - len(idx))
        return pd.DataFrame(out, columns=list(COLUMNS))
