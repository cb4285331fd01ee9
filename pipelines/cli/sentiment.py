"""``meridian sentiment score FILE``: score one text per line with VADER, FinBERT or the composite,
so anyone can evaluate the scorers on their own corpus."""

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
    s.add_argument("--model", choices=["vader", "finbert", "composite"],
                   help="scorer (default: sentiment.model of the configuration)")
    s.add_argument("--finbert-path", help="local FinBERT checkpoint folder (overrides sentiment.finbert_path)")
    s.add_argument("--batch-size", type=int, help="texts per FinBERT batch")
    s.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where FinBERT runs")
    s.add_argument("--encoding", default="utf-8", help="text encoding of FILE (e.g. latin-1)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.set_defaults(func=run_score)


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


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def run_score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.sentiment.scorer import SentimentScorer

    cfg = load_config(args.config).sentiment
    update = {k: v for k, v in {"model": args.model, "finbert_path": args.finbert_path,
                                "batch_size": args.batch_size, "device": args.device}.items() if v is not None}
    cfg = cfg.model_validate({**cfg.model_dump(), **update})
    lines = read_lines(args.file, args.encoding)
    scorer = SentimentScorer(cfg)  # logs a warning when it falls back to VADER
    with tqdm(total=len(lines), unit="text", file=sys.stderr, disable=len(lines) < 500, leave=False) as bar:
        scores = scorer.score([t for _, t in lines], progress=bar.update)
    items = [{"line": n, "text": t, "score": _num(r.score), "label": r.label, "vader": _num(r.vader),
              "finbert": _num(r.finbert)} for (n, t), r in zip(lines, scores.itertuples(index=False))]
    counts = scores["label"].value_counts().to_dict()
    payload = {"model": scorer.describe(), "n": len(items), "labels": counts, "items": items}
    text = "\n".join(f"{i['line']:>6}  {i['score']:+.3f}  {i['label']:<8}  {i['text'][:90]}" for i in items)
    text += f"\n{len(items)} texts scored with {scorer.active}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    emit(payload, args.json, text)
    return 0
