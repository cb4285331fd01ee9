"""Inputs for the sentiment tests: tiny BERT classifiers saved like FinBERT checkpoints (built from
a config with a local WordPiece vocabulary, nothing downloaded) and generated scored news."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

WORDS = ("the company net sales profit profits rose fell increased decreased loss losses operating "
         "margin quarter year growth strong weak record down up eur million said will expects shares "
         "stock market bank debt cut jobs layoffs beat miss guidance").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "%"] + WORDS + ["##s", "##ed", "##ing"]


def build_tiny_bert(path, id2label: dict[int, str], seed: int = 0):
    """A 2-layer BERT classifier with random weights and a tokenizer from VOCAB, saved with
    save_pretrained the way a FinBERT checkpoint is laid out."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64,
                     id2label=dict(id2label), label2id={v: k for k, v in id2label.items()})
    model = BertForSequenceClassification(cfg).eval()
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)}, do_lower_case=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def generated_news(start: str, hours: int, seed: int = 0, per_hour: float = 1.5,
                   tickers=("BTC", "ETH")) -> pd.DataFrame:
    """Scored items (the frame score_news makes): news and social, some market-wide, some first
    seen long after their claimed publish time."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(per_hour * hours)
    t0 = pd.Timestamp(start, tz="UTC")
    published = t0 + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, n)), unit="s")
    delay = rng.exponential(600, n) + np.where(rng.random(n) < 0.1, rng.uniform(3600, 30 * 3600, n), 0)
    known = published + pd.to_timedelta(delay, unit="s")
    score = np.clip(rng.normal(0.05, 0.45, n), -1, 1)
    pick = rng.integers(0, len(tickers) + 1, n)
    tick = [json.dumps([] if p == len(tickers) else [tickers[p]]) for p in pick]
    ch = np.where(rng.random(n) < 0.3, "social", "news")
    label = np.where(score > 0.05, "positive", np.where(score < -0.05, "negative", "neutral"))
    df = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "provider": np.where(ch == "social", "reddit", "finnhub"),
                       "kind": ch, "channel": ch, "published_at": published, "known_at": known,
                       "tickers": tick, "score": score, "label": label})
    # the provider's own scores on about half of the news items, per ticker on some of them
    has = (ch == "news") & (rng.random(n) < 0.5)
    df["provider_score"] = np.where(has, np.clip(score + rng.normal(0, 0.2, n), -1, 1), np.nan)
    df["provider_tickers"] = [json.dumps([{"ticker": tickers[p], "score": round(float(s) * 0.8, 3), "label": None,
                                           "relevance": 0.7}]) if h and p < len(tickers) else None
                              for h, p, s in zip(has, pick, score)]
    return df.sort_values("known_at", kind="stable").reset_index(drop=True)


def fear_greed_series(start: str, days: int, seed: int = 0) -> pd.DataFrame:
    """Daily index values, each released a few minutes after midnight UTC of its day."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(pd.Timestamp(start, tz="UTC").normalize(), periods=days, freq="D")
    v = np.clip(50 + np.cumsum(rng.normal(0, 6, days)), 0, 100).round()
    return pd.DataFrame({"series_id": "CRYPTO_FEAR_GREED", "source": "alternative.me", "ts": ts,
                         "known_at": ts + pd.Timedelta(minutes=7), "value": v})


POSITIVE = ["Operating profit rose to EUR {n} mn from EUR {m} mn .", "Net sales increased by {n} % in the quarter .",
            "The company reported record profit and strong growth .", "Shares rose after the bank beat guidance .",
            "Earnings improved and the margin grew to {n} % .", "Orders grew strongly and the outlook was raised ."]
NEGATIVE = ["Operating loss widened to EUR {n} mn from EUR {m} mn .", "Net sales decreased by {n} % in the quarter .",
            "The company cut {n} jobs after a heavy loss .", "Shares fell after the bank missed guidance .",
            "Profit dropped and the margin weakened to {n} % .", "Orders declined and the outlook was lowered ."]
NEUTRAL = ["The company is headquartered in Helsinki , Finland .", "The annual general meeting will be held in May {n} .",
           "The contract covers the delivery of {n} units .", "The board consists of {n} members .",
           "The report will be published on {n} March .", "The company operates in {n} countries ."]


def build_mini_phrasebank(folder, copies: int = 4):
    """A PhraseBank-format folder (the four nested agreement files, latin-1, ``sentence@label``)
    of templated sentences: each template with ``copies`` different figures, so near copies exist
    and the split by source has something to keep together."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, templates in (("positive", POSITIVE), ("negative", NEGATIVE), ("neutral", NEUTRAL)):
        for j, t in enumerate(templates):
            for k in range(copies):
                rows.append((t.format(n=3 + 7 * k + j, m=2 + 5 * k), label, (j + k) % 4))
    # level 0 sentences are in every file (AllAgree), level 3 only in 50Agree
    files = {"AllAgree": 0, "75Agree": 1, "66Agree": 2, "50Agree": 3}
    for name, top in files.items():
        lines = [f"{text}@{label}" for text, label, lvl in rows if lvl <= top]
        (folder / f"Sentences_{name}.txt").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return folder
