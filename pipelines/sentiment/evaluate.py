"""Evaluating scorers: the Financial PhraseBank (labelled sentences) and the information
coefficient of a sentiment feature against forward returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.errors import DataError

CLASSES = ("negative", "neutral", "positive")
PHRASEBANK_LEVELS = ("AllAgree", "75Agree", "66Agree", "50Agree")


def load_phrasebank(folder: str | Path, level: str = "AllAgree") -> pd.DataFrame:
    """Sentences_<level>.txt: ``sentence@label`` per line, ISO-8859-1 -> frame (text, label)."""
    if level not in PHRASEBANK_LEVELS:
        raise ValueError(f"unknown agreement level {level!r}: one of {PHRASEBANK_LEVELS}")
    path = Path(folder) / f"Sentences_{level}.txt"
    if not path.is_file():
        raise DataError(f"{path} not found: point at the Financial PhraseBank v1.0 folder")
    return load_labelled(path, sep="@", encoding="latin-1")


def load_labelled(path: str | Path, sep: str = "@", encoding: str = "utf-8") -> pd.DataFrame:
    """``text<sep>label`` per line (label positive/neutral/negative; the last ``sep`` splits)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding=encoding).splitlines()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not {encoding} text ({exc.reason}): give its encoding") from None
    rows, bad = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        text, found, label = line.rpartition(sep)
        label = label.strip().lower()
        if not found or label not in CLASSES or not text.strip():
            bad.append(n)
            continue
        rows.append((text.strip(), label))
    if bad:
        raise DataError(f"{path}: {len(bad)} line(s) are not 'text{sep}label' with label one of "
                        f"{', '.join(CLASSES)} (first: line {bad[0]})")
    return pd.DataFrame(rows, columns=["text", "label"])


def classification_scores(y_true, y_pred) -> dict:
    """Accuracy, macro-F1 over the three classes, per-class F1 and the majority-class accuracy."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    per = f1_score(y_true, y_pred, labels=list(CLASSES), average=None, zero_division=0)
    majority = pd.Series(y_true).value_counts(normalize=True).iloc[0]
    return {"n": int(len(y_true)), "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(np.mean(per)), "f1": {c: float(f) for c, f in zip(CLASSES, per)},
            "majority_accuracy": float(majority)}


GOLD_OF_LABEL = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}


def gold_of_label(labels) -> np.ndarray:
    """negative/neutral/positive -> -1/0/+1 (the gold score of a class-labelled corpus)."""
    return pd.Series(labels, dtype="object").map(GOLD_OF_LABEL).to_numpy(dtype="float64")


def label_of_gold(gold, band: float = 0.0) -> np.ndarray:
    """A gold score in [-1, 1] -> its class: positive above +band, negative below -band."""
    g = np.asarray(gold, dtype="float64")
    return np.where(g > band, "positive", np.where(g < -band, "negative", "neutral")).astype(object)


def pearson(score, gold) -> float | None:
    """Pearson correlation over the rows where both are finite (an unscored text is left out)."""
    s, g = np.asarray(score, dtype="float64"), np.asarray(gold, dtype="float64")
    ok = np.isfinite(s) & np.isfinite(g)
    if ok.sum() < 3 or np.std(s[ok]) == 0 or np.std(g[ok]) == 0:
        return None
    return float(np.corrcoef(s[ok], g[ok])[0, 1])


def load_gold_scores(path: str | Path) -> pd.DataFrame:
    """A CSV with ``text`` and ``gold`` (a score in [-1, 1]) columns -> text, gold, label."""
    path = Path(path)
    try:
        df = pd.read_csv(path, comment="#")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    missing = {"text", "gold"} - set(df.columns)
    if missing:
        raise DataError(f"{path} lacks column(s) {sorted(missing)}: give text,gold with gold in [-1, 1]")
    gold = pd.to_numeric(df["gold"], errors="coerce")
    bad = gold.isna() | (gold.abs() > 1) | df["text"].isna()
    if bad.any():
        raise DataError(f"{path}: {int(bad.sum())} row(s) without a text or a gold score in [-1, 1] "
                        f"(first: data row {int(np.flatnonzero(bad.to_numpy())[0]) + 1})")
    out = pd.DataFrame({"text": df["text"].astype(str), "gold": gold.astype("float64")})
    out["label"] = label_of_gold(out["gold"])
    return out
