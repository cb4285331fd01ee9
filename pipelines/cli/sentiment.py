"""``meridian sentiment``: ``train`` fits the finance model on the Financial PhraseBank and saves
it with its card; ``score FILE`` scores one text per line with VADER, the finance model, FinBERT
or the composite; ``evaluate FILE`` measures accuracy, macro-F1 (and Pearson against gold scores)
next to VADER and the majority class, on a labelled file (the PhraseBank's format or a text,gold
CSV); ``collect`` runs the Fear & Greed, Reddit and X/Twitter collectors into the store; ``news``
scores the stored news."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import DataError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sentiment", help="score text sentiment (VADER, FinBERT, composite)")
    sp = p.add_subparsers(dest="sentiment_command", metavar="ACTION", required=True)
    s = sp.add_parser("score", help="score one text per line of FILE ('-' reads standard input)")
    s.add_argument("file", metavar="FILE")
    _model_args(s)
    s.add_argument("--batch-size", type=int, help="texts per FinBERT batch")
    s.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where FinBERT runs")
    s.add_argument("--encoding", default="utf-8", help="text encoding of FILE (e.g. latin-1)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=run_score)
    e = sp.add_parser("evaluate", help="accuracy and macro-F1 of a scorer on a labelled file (text@label per line)")
    e.add_argument("file", metavar="FILE", help="e.g. the Financial PhraseBank's Sentences_AllAgree.txt")
    e.add_argument("--sep", default="@", help="separator before the label (default @; the last one counts)")
    e.add_argument("--encoding", default="utf-8", help="text encoding (the PhraseBank is latin-1)")
    e.add_argument("--gold", action="store_true",
                   help="FILE is a CSV with text and gold (a score in [-1, 1]) columns: adds Pearson against gold")
    _model_args(e)
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=run_evaluate)
    t = sp.add_parser("train", help="train the finance sentiment model on the Financial PhraseBank and save it")
    t.add_argument("--data", default=str(Path("..") / "shared" / "data" / "financial_phrasebank"),
                   help="the PhraseBank folder (Sentences_*Agree.txt; default ../shared/data/financial_phrasebank)")
    t.add_argument("--name", default=None, help="model name (default: sentiment.finance_name)")
    t.add_argument("--test-fraction", type=float, default=0.2, help="share of sentence sources held out")
    t.add_argument("--seed", type=int, default=0, help="seed of the split by sentence source")
    t.add_argument("--C", type=float, default=4.0, help="inverse regularisation of the logistic regression")
    t.add_argument("--no-lexicons", action="store_true", help="n-grams only (no VADER/finance lexicon inputs)")
    t.add_argument("--json", action="store_true", help="print the model card as JSON")
    t.set_defaults(func=run_train)
    c = sp.add_parser("collect", help="collect Fear & Greed, Reddit and X/Twitter items into the store")
    c.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="feargreed, reddit, twitter or all (default: all, skipping those without credentials)")
    c.add_argument("--full", action="store_true", help="Fear & Greed: fetch the whole history again")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=run_collect)
    n = sp.add_parser("news", help="score the stored news and summarise it per ticker")
    n.add_argument("--since", help="first-seen time from (e.g. 2024-05-01); default: 7 days ago")
    n.add_argument("--until", help="first-seen time before (default: now)")
    n.add_argument("--symbol", help="only items naming this ticker (or market-wide ones)")
    _model_args(n)
    n.add_argument("--ray", action="store_true", help="score as a Ray task (on the GPU node when there is one)")
    n.add_argument("--limit", type=int, default=10, help="latest items listed")
    n.add_argument("--json", action="store_true", help="print the result as JSON")
    n.set_defaults(func=run_news)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", choices=["vader", "finance", "finbert", "composite"],
                   help="scorer (default: sentiment.model of the configuration)")
    p.add_argument("--finbert-path", help="local FinBERT checkpoint folder (overrides sentiment.finbert_path)")
    p.add_argument("--finance-path", help="a trained finance model folder (default: the newest in the models folder)")
    p.add_argument("--fallback", choices=["none", "vader"],
                   help="when the asked model cannot load: fail (default) or score with VADER")


def scorer_config(cfg, args: argparse.Namespace):
    """sentiment config with the command line's model options applied."""
    update = {k: getattr(args, a, None) for k, a in (("model", "model"), ("finbert_path", "finbert_path"),
                                                       ("finance_path", "finance_path"), ("fallback", "fallback"),
                                                       ("batch_size", "batch_size"), ("device", "device"))}
    update = {k: v for k, v in update.items() if v is not None}
    return cfg.model_validate({**cfg.model_dump(), **update})


def make_scorer(args: argparse.Namespace):
    """(full config, scorer) for a command: the models folder is the project's, beside the store."""
    from pipelines.sentiment.scorer import SentimentScorer

    cfg = load_config(args.config)
    return cfg, SentimentScorer(scorer_config(cfg.sentiment, args), models_dir=cfg.models_dir)


def read_lines(path: str, encoding: str) -> list[tuple[int, str]]:
    """(line number, text) for every non-blank line."""
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text(encoding=encoding)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not {encoding} text ({exc.reason} at byte {exc.start}): "
                        f"pass --encoding, e.g. --encoding latin-1") from None
    return [(i, line.strip()) for i, line in enumerate(raw.splitlines(), 1) if line.strip()]


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def run_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    lines = read_lines(args.file, args.encoding)
    _, scorer = make_scorer(args)  # fails when the asked model cannot load, unless --fallback vader
    with tqdm(total=len(lines), unit="text", file=sys.stderr, disable=len(lines) < 500, leave=False) as bar:
        scores = scorer.score([t for _, t in lines], progress=bar.update)
    items = [{"line": n, "text": t, "score": _num(r.score), "label": r.label, "vader": _num(r.vader),
              "finance": _num(r.finance), "finbert": _num(r.finbert)} for (n, t), r in zip(lines, scores.itertuples(index=False))]
    counts = scores["label"].value_counts().to_dict()
    payload = {"model": scorer.describe(), "n": len(items), "labels": counts, "items": items}
    text = "\n".join(f"{i['line']:>6}  {i['score']:+.3f}  {i['label']:<8}  {i['text'][:90]}" for i in items)
    text += f"\n{len(items)} texts scored with {scorer.active}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    emit(payload, args.json, text)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from pipelines.sentiment.evaluate import (classification_scores, gold_of_label, load_gold_scores,
                                              load_labelled, pearson)
    from pipelines.sentiment.scorer import labels as band_labels

    data = load_gold_scores(args.file) if args.gold else load_labelled(args.file, args.sep, args.encoding)
    gold = data["gold"].to_numpy() if args.gold else gold_of_label(data["label"])
    _, scorer = make_scorer(args)
    t0 = time.perf_counter()
    with tqdm(total=len(data), unit="text", file=sys.stderr, disable=len(data) < 500, leave=False) as bar:
        out = scorer.score(data["text"].tolist(), progress=bar.update)
    dt = time.perf_counter() - t0
    m = classification_scores(data["label"], out["label"])
    m["pearson"] = pearson(out["score"], gold)
    vader = classification_scores(data["label"], band_labels(out["vader"].fillna(0).to_numpy(),
                                                             scorer.cfg.neutral_band))
    vader["pearson"] = pearson(out["vader"], gold)
    payload = {"file": str(args.file), "model": scorer.describe(), **m, "vader": vader,
               "items_per_second": len(data) / dt}
    if "finance" in scorer.parts and Path(args.file).name.startswith("Sentences_"):
        payload["note"] = ("the finance model was trained on most PhraseBank sentences: these figures are in-sample; "
                           "its card's metrics (meridian sentiment train) are on held-out sentence sources")
    p, pv = _fmt(m["pearson"]), _fmt(vader["pearson"])
    text = (f"{args.file}: {m['n']} texts, {scorer.active}: accuracy {m['accuracy']:.3f}, macro-F1 "
            f"{m['macro_f1']:.3f}, Pearson {p} (majority class {m['majority_accuracy']:.3f}); F1 " +
            ", ".join(f"{k} {v:.3f}" for k, v in m["f1"].items()) + f"; {len(data) / dt:,.0f} texts/s\n"
            f"VADER on the same texts: accuracy {vader['accuracy']:.3f}, macro-F1 {vader['macro_f1']:.3f}, Pearson {pv}")
    if "note" in payload:
        text += f"\nNote: {payload['note']}"
    emit(payload, args.json, text)
    return 0


def run_train(args: argparse.Namespace) -> int:
    import json

    from pipelines.sentiment.train import train_phrasebank

    cfg = load_config(args.config)
    params = {"C": args.C, "lexicons": not args.no_lexicons}
    folder, card = train_phrasebank(args.data, cfg.models_dir, name=args.name or cfg.sentiment.finance_name,
                                    test_fraction=args.test_fraction, seed=args.seed, params=params)
    card = json.loads((folder / "card.json").read_text())
    lines = [f"saved {card['name']} {card['version']} to {folder}",
             f"trained on {card['split']['train']} sentences, tested on {card['split']['test']} held-out sentences "
             f"(split by sentence source)"]
    for key, title in (("test", "test"), ("test_allagree", "test AllAgree"), ("vader_test", "VADER on test")):
        m = card["metrics"].get(key)
        if m:
            lines.append(f"  {title + ':':<15}accuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, Pearson "
                         f"{_fmt(m.get('pearson'))} (majority {m['majority_accuracy']:.3f})"
                         + (f"; {m['texts_per_second']:,.0f} texts/s" if m.get("texts_per_second") else ""))
    text = "\n".join(lines)
    emit({**card, "path": str(folder)}, args.json, text)
    return 0


def run_collect(args: argparse.Namespace) -> int:
    from pipelines.ingest.collectors import SentimentCollector

    cfg = load_config(args.config)
    collector = SentimentCollector(cfg.sentiment.sources, cfg.store)
    try:
        results = collector.collect(args.sources or ["all"], full=args.full)
    finally:
        collector.close()
    lines = [f"{k}: " + (f"skipped ({v['skipped']})" if "skipped" in v else f"{v['written']} new")
             for k, v in results.items()]
    emit(results, args.json, "\n".join(lines))
    return 0


def run_news(args: argparse.Namespace) -> int:

    import pandas as pd

    from pipelines.tickers import parse_tickers, symbol_aliases
    from pipelines.sentiment.pipeline import scored_news
    from pipelines.store import open_store


    cfg = load_config(args.config)
    scfg = scorer_config(cfg.sentiment, args)
    now = pd.Timestamp.now(tz="UTC")
    since = pd.Timestamp(args.since, tz="UTC") if args.since else now - pd.Timedelta(days=7)
    until = pd.Timestamp(args.until, tz="UTC") if args.until else None
    store = open_store(cfg.store)
    try:
        if args.ray:
            from cluster.runtime import init_ray
            init_ray(cfg.ray)
        scored, info = scored_news(store, scfg, since, until, use_ray=args.ray, models_dir=cfg.models_dir)
    finally:
        store.close()
    tick = scored["tickers"].map(parse_tickers)
    if args.symbol:
        names = symbol_aliases(args.symbol)
        keep = tick.map(lambda t: not t or bool(names & set(t)))
        scored, tick = scored[keep], tick[keep]
    per = (scored.assign(ticker=tick.map(lambda t: t or ["(market)"])).explode("ticker")
           .groupby(["ticker", "channel"])["score"].agg(["count", "mean"]).reset_index())
    latest = scored.sort_values("known_at", ascending=False).head(args.limit)
    payload = {"model": info, "since": since.isoformat(), "until": None if until is None else until.isoformat(),
               "items": int(len(scored)),
               "by_ticker": [{"ticker": r.ticker, "channel": r.channel, "count": int(r.count),
                              "mean_score": _num(r.mean)} for r in per.itertuples()],
               "latest": [{"known_at": r.known_at.isoformat(), "provider": r.provider, "score": _num(r.score),
                           "label": r.label, "item_id": r.item_id} for r in latest.itertuples()]}
    text = "\n".join([f"{len(scored)} items since {since:%Y-%m-%d %H:%M} scored with {info.get('active')}"] +
                     [f"  {b['ticker']:<10} {b['channel']:<7} {b['count']:>5}  mean {b['mean_score']:+.3f}"
                      for b in payload["by_ticker"]])
    emit(payload, args.json, text)
    return 0
