"""Sentiment scorers on the Financial PhraseBank (accuracy, macro-F1, items/second per agreement
level, for VADER and for FinBERT when local weights exist), the finance model Meridian trains
(trained here on the PhraseBank's training sources, measured on its held-out sources and on the
hand-labelled headlines of tests/sentiment/data, next to VADER and the majority class) and the
information coefficient of daily news sentiment against next-day returns on the 7-ticker headline set.

    python tests/bench/bench_sentiment.py
    MERIDIAN__SENTIMENT__FINBERT_PATH=/models/finbert python tests/bench/bench_sentiment.py
    BENCH_ARCH_N=512 BENCH_DEVICE=auto python tests/bench/bench_sentiment.py

One JSON object per line per figure. Accuracy baselines are FinBERT's published figures (Araci
2019: 0.97 accuracy / 0.95 F1 on the all-agree sentences, 0.86 / 0.84 on all 50%-agree data,
each on its own test split); ratio = value / baseline. Without FinBERT weights the script says
so and also times a BERT-base classifier with random weights (FinBERT's architecture and input
lengths, not its accuracy) on BENCH_ARCH_N sentences, to show what FinBERT costs per item here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SHARED = Path(os.environ.get("MERIDIAN_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
PUBLISHED = {"AllAgree": {"accuracy": 0.97, "macro_f1": 0.95}, "50Agree": {"accuracy": 0.86, "macro_f1": 0.84}}


def emit(bench: str, value, unit: str, baseline=None, ratio=None, **extra) -> None:
    """One figure; throughput depends on what else runs, so the 1-minute load average goes with it."""
    r = lambda x: None if x is None else round(float(x), 4)  # noqa: E731
    print(json.dumps({"bench": bench, "value": r(value), "unit": unit, "baseline": baseline,
                      "ratio": r(ratio), **extra, "cpu_count": os.cpu_count(),
                      "load_avg_1m": round(os.getloadavg()[0], 2)}), flush=True)


def phrasebank(scorer, name: str) -> None:
    from pipelines.sentiment.evaluate import classification_scores, load_phrasebank
    for level in ("AllAgree", "50Agree"):
        df = load_phrasebank(SHARED / "financial_phrasebank", level)
        texts = df["text"].tolist()
        scorer.score(texts[:16])  # warm
        t0 = time.perf_counter()
        out = scorer.score(texts)
        dt = time.perf_counter() - t0
        m = classification_scores(df["label"], out["label"])
        for metric in ("accuracy", "macro_f1"):
            base = PUBLISHED[level][metric]
            emit(f"phrasebank_{level.lower()}_{name}_{metric}", m[metric], "fraction", baseline=base,
                 ratio=m[metric] / base, n=m["n"], majority_class_accuracy=round(m["majority_accuracy"], 4),
                 f1_per_class={k: round(v, 4) for k, v in m["f1"].items()}, baseline_is="FinBERT published")
        emit(f"phrasebank_{level.lower()}_{name}_throughput", len(texts) / dt, "items/s", n=len(texts),
             device=scorer.describe()["device"] or "cpu")


def finbert_architecture_throughput(n: int, device: str) -> None:
    """A BERT-base sequence classifier (FinBERT's size) with random weights and a WordPiece
    vocabulary trained here on the PhraseBank, timed through the same FinBERT pipeline code."""
    import tempfile

    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    from pipelines.config.sentiment import SentimentConfig
    from pipelines.sentiment.evaluate import load_phrasebank
    from pipelines.sentiment.finbert import FinBertScorer

    texts = load_phrasebank(SHARED / "financial_phrasebank", "50Agree")["text"].tolist()
    tk = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tk.normalizer = normalizers.BertNormalizer(lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=30522, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        cfg = BertConfig(id2label={0: "positive", 1: "negative", 2: "neutral"},
                         label2id={"positive": 0, "negative": 1, "neutral": 2})
        BertForSequenceClassification(cfg).save_pretrained(d)
        BertTokenizer(vocab=tk.get_vocab()).save_pretrained(d)
        fb = FinBertScorer.load(SentimentConfig(model="finbert", finbert_path=d, device=device, batch_size=32))
        sample = texts[:n]
        fb.score(sample[:32])
        t0 = time.perf_counter()
        fb.score(sample)
        if fb.device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    emit("finbert_architecture_random_weights_throughput", len(sample) / dt, "items/s", n=len(sample),
         device=fb.device, threads=torch.get_num_threads(),
         note="BERT-base with random weights: cost per item of FinBERT, not its accuracy")


def headline_ic(scorer, name: str) -> None:
    """Daily news sentiment (news_sent_24h at each US close, items as first seen) against the
    return from that close to the next one, over the 7 tickers."""
    from pipelines.features.engine import compute_features
    from pipelines.features.spec import FeatureContext
    from scipy.stats import spearmanr

    from pipelines.evaluation.signal import analyse
    from pipelines.sentiment.features import FEATURES
    from pipelines.sentiment.scorer import score_news

    folder = SHARED / "news_headlines_7tickers"
    raw = pd.read_csv(folder / "news.csv.gz")
    when = pd.to_datetime(raw["datetime"]).dt.tz_localize("UTC")  # no zone stated: taken as UTC
    news = pd.DataFrame({
        "item_id": [hashlib.sha256(f"{t}|{h}|{w}".encode()).hexdigest()[:24]
                    for t, h, w in zip(raw["ticker"], raw["headline"], raw["datetime"])],
        "provider": "finnhub", "kind": "company", "published_at": when,
        "known_at": when,  # the set has no separate first-seen time
        "headline": raw["headline"], "summary": raw["summary"],
        "tickers": [json.dumps([t]) for t in raw["ticker"]]})
    t0 = time.perf_counter()
    scored = score_news(news, scorer)
    emit(f"headlines_{name}_scoring_throughput", len(news) / (time.perf_counter() - t0), "items/s", n=len(news))
    px = pd.read_csv(folder / "price.csv.gz")
    specs = tuple(s for s in FEATURES if s.name == "news_sentiment")
    rows = []
    for ticker, p in px.groupby("ticker"):
        day = pd.to_datetime(p["date"]).dt.tz_localize("UTC")
        close_at = (pd.to_datetime(p["date"]) + pd.Timedelta(hours=16)).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
        bars = pd.DataFrame({"ts": day, "open": p["open"], "high": p["high"], "low": p["low"], "close": p["close"],
                             "volume": p["volume"], "known_at": close_at}).sort_values("ts").reset_index(drop=True)
        f = compute_features(bars, specs, FeatureContext(symbol=ticker, asset_class="stock", timeframe="1d", news=scored))
        c = bars["close"].to_numpy()
        rows.append(pd.DataFrame({"date": bars["ts"].dt.date, "ticker": ticker, "sent": f["news_sent_24h"].to_numpy(),
                                  "count": f["news_count_24h"].to_numpy(),
                                  "next_ret": np.append(c[1:] / c[:-1] - 1, np.nan),
                                  "same_ret": np.append(np.nan, c[1:] / c[:-1] - 1)}))
    d = pd.concat(rows, ignore_index=True)
    d = d[d["count"] > 0]
    keyed = d.assign(ts=pd.to_datetime(d["date"]), symbol=d["ticker"]).set_index(["ts", "symbol"])

    def ic(target: str) -> dict:
        """Pooled Spearman over all rows, and the daily cross-sectional rank IC of the one signal
        analysis (Newey-West t, days with 3+ tickers)."""
        both = keyed[["sent", target]].dropna()
        rho, p = spearmanr(both["sent"], both[target])
        a = analyse(keyed["sent"], keyed[target], horizon=1, min_names=3).summary()
        return {"ic": float(rho), "n": int(len(both)), "p_value": float(p), "mean_daily_ic": a["rank_ic_mean"],
                "t_stat": a["rank_ic_nw_t"], "dates": a["days"]}

    nxt, same = ic("next_ret"), ic("same_ret")
    emit(f"headlines_{name}_ic_next_day", nxt["ic"], "spearman", n=nxt["n"], p_value=round(nxt["p_value"], 4),
         mean_daily_ic=round(nxt["mean_daily_ic"], 4), t_stat=round(nxt["t_stat"], 3), dates=nxt["dates"],
         signal="news_sent_24h at the close (items first seen in the 24h before it)",
         target="close(t) -> close(t+1)")
    emit(f"headlines_{name}_ic_same_day", same["ic"], "spearman", n=same["n"], p_value=round(same["p_value"], 4),
         mean_daily_ic=round(same["mean_daily_ic"], 4), t_stat=round(same["t_stat"], 3), dates=same["dates"],
         target="close(t-1) -> close(t): the reaction the news describes, for reference (not tradable)")


HEADLINES_GOLD = Path(__file__).resolve().parents[1] / "sentiment" / "data" / "headlines_7tickers_gold.csv"


def finance_model(cfg):
    """Train the finance model on the PhraseBank's training sources in a temporary models folder;
    emit its held-out figures and its figures on the hand-labelled headlines; return its scorer and the
    temporary models folder (the caller removes it)."""
    import tempfile

    from pipelines.sentiment.evaluate import classification_scores, load_gold_scores, pearson
    from pipelines.sentiment.scorer import SentimentScorer
    from pipelines.sentiment.train import train_phrasebank

    models = Path(tempfile.mkdtemp(prefix="meridian-sentiment-"))
    _, card = train_phrasebank(SHARED / "financial_phrasebank", models)
    for part, m in card["metrics"].items():
        for metric in ("accuracy", "macro_f1", "pearson"):
            emit(f"phrasebank_heldout_{part}_{metric}", m[metric], "fraction", n=m["n"],
                 majority_class_accuracy=round(m["majority_accuracy"], 4),
                 split="by sentence source, seed 0, 20% of sources held out")
    fin = SentimentScorer(cfg.model_copy(update={"model": "finance"}), models_dir=models)
    gold = load_gold_scores(HEADLINES_GOLD)
    for name, scorer in (("finance", fin), ("vader", SentimentScorer(cfg.model_copy(update={"model": "vader"}))),
                         ("composite", SentimentScorer(cfg.model_copy(update={"model": "composite"}),
                                                       models_dir=models, finbert=None))):
        t0 = time.perf_counter()
        out = scorer.score(gold["text"].tolist())
        dt = time.perf_counter() - t0
        m = classification_scores(gold["label"], out["label"])
        for metric in ("accuracy", "macro_f1"):
            emit(f"headlines_gold_{name}_{metric}", m[metric], "fraction", n=m["n"],
                 majority_class_accuracy=round(m["majority_accuracy"], 4), parts=scorer.parts)
        emit(f"headlines_gold_{name}_pearson", pearson(out["score"], gold["gold"]), "pearson", n=m["n"],
             parts=scorer.parts)
        emit(f"headlines_gold_{name}_throughput", len(gold) / dt, "items/s", n=m["n"])
    return fin, models


def main() -> int:
    from pipelines.config import load_config
    from pipelines.sentiment.scorer import SentimentScorer

    if not SHARED.is_dir():
        print(json.dumps({"bench": "sentiment", "skipped": f"{SHARED} not present"}))
        return 0
    cfg = load_config().sentiment
    vader = SentimentScorer(cfg.model_copy(update={"model": "vader"}))
    phrasebank(vader, "vader")
    headline_ic(vader, "vader")
    headline_ic(SentimentScorer(cfg.model_copy(update={"model": "vader", "text": "headline_summary"})),
                "vader_headline_summary")
    import shutil

    finance, models = finance_model(cfg)
    try:
        headline_ic(finance, "finance")
    finally:
        shutil.rmtree(models, ignore_errors=True)
    fin = SentimentScorer(cfg.model_copy(update={"model": "finbert", "fallback": "vader"}))
    if fin.active == "finbert":
        phrasebank(fin, "finbert")
        headline_ic(fin, "finbert")
        comp = SentimentScorer(cfg.model_copy(update={"model": "composite"}), finbert=fin.finbert)
        phrasebank(comp, "composite")
    else:
        emit("phrasebank_finbert_accuracy", None, "fraction", baseline=PUBLISHED["AllAgree"]["accuracy"],
             note=f"FinBERT not evaluated: {fin.notice}")
    n = int(os.environ.get("BENCH_ARCH_N", 128))
    if n > 0:
        finbert_architecture_throughput(n, os.environ.get("BENCH_DEVICE", "auto"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
