"""The Financial PhraseBank as one corpus and its split by sentence source.

The four agreement files are nested (every AllAgree sentence is also in 75Agree, 66Agree and
50Agree), so a sentence is kept once, with its majority label and the highest agreement level it
reaches. Sentences that differ only in figures, case or punctuation ("Operating profit rose to
EUR 13.1 mn" / "... EUR 8.7 mn") come from the same template and share a source key; a split
assigns whole sources to one side, so no sentence (nor a near copy of it) is on both sides.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.sentiment.evaluate import PHRASEBANK_LEVELS, load_phrasebank

AGREEMENT = {"50Agree": 0.5, "66Agree": 0.66, "75Agree": 0.75, "AllAgree": 1.0}
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_NON_WORD = re.compile(r"[^a-z0]+")


def source_key(text: str) -> str:
    """The template a sentence comes from: lower case, every number as 0, only letters kept."""
    t = _NUM.sub("0", str(text).lower())
    return _NON_WORD.sub(" ", t).strip()


def phrasebank_corpus(folder: str | Path) -> pd.DataFrame:
    """All agreement files, deduplicated: text, label, agreement (highest level), source. A
    sentence listed twice with two labels at its highest level is dropped (counted in
    ``attrs['dropped_ambiguous']``)."""
    frames = []
    for level in PHRASEBANK_LEVELS:  # strictest first: a sentence keeps its highest level
        df = load_phrasebank(folder, level)
        frames.append(df.assign(agreement=AGREEMENT[level]))
    allrows = pd.concat(frames, ignore_index=True)
    top = allrows[allrows["agreement"] == allrows.groupby("text")["agreement"].transform("max")]
    ambiguous = top.groupby("text")["label"].nunique()
    ambiguous = set(ambiguous[ambiguous > 1].index)  # the same sentence twice with two labels
    out = top[~top["text"].isin(ambiguous)].drop_duplicates("text", keep="first").reset_index(drop=True)
    out.attrs["dropped_ambiguous"] = len(ambiguous)
    out["source"] = out["text"].map(source_key)
    return out


def split_by_source(corpus: pd.DataFrame, test_fraction: float = 0.2, seed: int = 0) -> np.ndarray:
    """Boolean mask of the test side: a source goes to test when the hash of (seed, source) falls
    in the lowest ``test_fraction`` of the range; stable across runs, machines and row order."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if "source" not in corpus:
        raise ValueError("the corpus needs a source column: build it with phrasebank_corpus()")

    def bucket(src: str) -> float:
        h = hashlib.sha256(f"{seed}:{src}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2.0 ** 64

    return corpus["source"].map(bucket).to_numpy() < test_fraction


def corpus_digest(corpus: pd.DataFrame) -> str:
    """sha256 of the (text, label) rows in order: which data a model was trained on."""
    h = hashlib.sha256()
    for text, label in zip(corpus["text"], corpus["label"]):
        h.update(f"{text}\t{label}\n".encode())
    return h.hexdigest()
