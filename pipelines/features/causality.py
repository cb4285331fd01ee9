"""The prefix test: for a cut-off t, features computed on ``bars[:t+1]`` (and on the context as
known at bar t's close) must equal rows 0..t of the features computed on all bars (NaN equal to
NaN, tight tolerance). A feature that reads a later bar, a peer/macro observation before its
release or a whole-sample statistic fails it at some t.

Also the warm-up check: after its declared look-back a feature must have values (its leading
NaN run may not outlast the declaration), so warm-up rows are dropped by declaration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from pipelines.features.engine import usable
from pipelines.features.spec import FeatureContext, FeatureSpec

RTOL, ATOL = 1e-9, 1e-12


@dataclass(frozen=True)
class Violation:
    spec: str
    column: str
    cutoff: int          # t: the prefix was bars[:t+1]
    row: int             # first row (<= t) that differs
    ts: str
    full: float | None
    prefix: float | None
    kind: str = "lookahead"  # or "error" (the spec failed on the prefix), "warmup"

    def __str__(self) -> str:
        if self.kind == "error":
            return f"{self.spec}: failed on bars[:{self.cutoff + 1}]: {self.column}"
        if self.kind == "warmup":
            return (f"{self.spec}.{self.column}: no value until row {self.row}, "
                    f"later than its declared look-back {self.cutoff}")
        return (f"{self.spec}.{self.column}: row {self.row} ({self.ts}) is {self.full} on all bars "
                f"but {self.prefix} on bars[:{self.cutoff + 1}]")


@dataclass
class CausalityReport:
    bars: int
    cutoffs_per_spec: int
    specs_checked: list[str] = field(default_factory=list)
    columns_checked: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict:
        return {"ok": self.ok, "bars": self.bars, "cutoffs_per_spec": self.cutoffs_per_spec,
                "specs_checked": len(self.specs_checked), "columns_checked": self.columns_checked,
                "skipped": self.skipped, "violations": [asdict(v) for v in self.violations]}


def cutoffs(n: int, lookback: int, k: int, rng: np.random.Generator) -> list[int]:
    """k distinct cut-offs in [1, n - 2]: about a third inside the warm-up, the rest after it."""
    if n < 3:
        return []
    hi = n - 2
    lo_after = min(max(lookback, 1), hi)
    k_warm = max(1, k // 3) if lookback > 1 else 0
    warm = rng.integers(1, lo_after + 1, size=k_warm) if k_warm else np.array([], dtype=int)
    after = rng.integers(lo_after, hi + 1, size=k - k_warm)
    return sorted(set(int(t) for t in np.concatenate([warm, after, [hi]])))


def _first_mismatch(full: np.ndarray, pre: np.ndarray) -> int | None:
    nan_f, nan_p = np.isnan(full), np.isnan(pre)
    close = np.isclose(full, pre, rtol=RTOL, atol=ATOL) | (nan_f & nan_p)
    bad = np.flatnonzero(~close)
    return int(bad[0]) if len(bad) else None


def _known_by(df: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    if df is None or "known_at" not in getattr(df, "columns", ()):
        return df
    return df[df["known_at"] <= cut].reset_index(drop=True)


def cut_context(ctx: FeatureContext, cut: pd.Timestamp) -> FeatureContext:
    """The context as it stood at ``cut``: peers, macro, news and extra tables reduced to rows
    known by then, so a feature that joins them on anything but ``known_at`` fails the test."""
    return replace(ctx, peers={k: _known_by(v, cut) for k, v in ctx.peers.items()},
                   macro=_known_by(ctx.macro, cut), news=_known_by(ctx.news, cut),
                   extra={k: _known_by(v, cut) if isinstance(v, pd.DataFrame) else v for k, v in ctx.extra.items()})


def check_spec(spec: FeatureSpec, bars: pd.DataFrame, ctx: FeatureContext, points: list[int],
               full: pd.DataFrame | None = None) -> list[Violation]:
    """Prefix test of one spec at the given cut-offs; at most one violation per column."""
    b = bars.reset_index(drop=True)
    full = spec.fn(b, ctx) if full is None else full
    fa = full.to_numpy(dtype="float64")
    found: dict[str, Violation] = {}
    for t in points:
        try:
            pre_ctx = cut_context(ctx, b["known_at"].iloc[t])
            pre = spec.fn(b.iloc[:t + 1].reset_index(drop=True), pre_ctx).to_numpy(dtype="float64")
        except Exception as exc:  # a spec that cannot run on a shorter history is itself a defect
            found.setdefault("<error>", Violation(spec.name, f"{type(exc).__name__}: {exc}", t, t,
                                                  str(b["ts"].iloc[t]), None, None, "error"))
            continue
        if pre.shape != (t + 1, fa.shape[1]):
            found.setdefault("<shape>", Violation(spec.name, f"shape {pre.shape} != {(t + 1, fa.shape[1])}",
                                                  t, t, str(b["ts"].iloc[t]), None, None, "error"))
            continue
        for j, col in enumerate(spec.columns):
            if col in found:
                continue
            row = _first_mismatch(fa[:t + 1, j], pre[:, j])
            if row is not None:
                found[col] = Violation(spec.name, col, t, row, str(b["ts"].iloc[row]),
                                       _num(fa[row, j]), _num(pre[row, j]))
    return list(found.values())


def check_warmup(spec: FeatureSpec, full: pd.DataFrame) -> list[Violation]:
    """Columns whose leading NaN run outlasts the declared look-back (only when the series is
    long enough to show it)."""
    out = []
    a = full.to_numpy(dtype="float64")
    if len(a) <= spec.lookback + 1:
        return out
    for j, col in enumerate(spec.columns):
        valid = np.flatnonzero(~np.isnan(a[:, j]))
        first = int(valid[0]) if len(valid) else len(a)
        if first > spec.lookback:
            out.append(Violation(spec.name, col, spec.lookback, first, "", None, None, "warmup"))
    return out


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def prefix_check(bars: pd.DataFrame, specs: tuple[FeatureSpec, ...], ctx: FeatureContext | None = None,
                 k: int = 8, seed: int = 0, warmup: bool = True, progress=None) -> CausalityReport:
    """Run the prefix test for every spec the data can feed at ``k`` random cut-offs each (and the
    last bar but one); with ``warmup`` also the warm-up check. ``progress`` is an optional
    callable invoked once per spec (e.g. a tqdm bar's ``update``)."""
    ctx = ctx or FeatureContext()
    b = bars.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    rep = CausalityReport(bars=len(b), cutoffs_per_spec=k)
    for spec in specs:
        if not usable(spec, b, ctx):
            rep.skipped[spec.name] = f"needs {', '.join(spec.needs)}"
        else:
            full = spec.fn(b, ctx)
            rep.violations += check_spec(spec, b, ctx, cutoffs(len(b), spec.lookback, k, rng), full)
            if warmup:
                rep.violations += check_warmup(spec, full)
            rep.specs_checked.append(spec.name)
            rep.columns_checked += len(spec.columns)
        if progress is not None:
            progress(1)
    return rep


def universe_prefix_check(bars_by_symbol: dict[str, pd.DataFrame], k: int = 5, seed: int = 0,
                          features_by_symbol: dict[str, pd.DataFrame] | None = None) -> list[Violation]:
    """The prefix test for the universe stage: cutting every symbol at time T must leave each
    symbol's rows up to T unchanged."""
    from pipelines.features.universe import cross_sectional

    full = cross_sectional(bars_by_symbol, features_by_symbol)
    all_ts = np.unique(np.concatenate([b["ts"].to_numpy() for b in bars_by_symbol.values()]))
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, str], Violation] = {}
    for i in sorted(set(rng.integers(1, len(all_ts) - 1, size=k).tolist())):
        cut = pd.Timestamp(all_ts[i])
        cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut
        bars_cut = {s: b[b["ts"] <= cut] for s, b in bars_by_symbol.items()}
        feats_cut = None if features_by_symbol is None else {s: f[f.index <= cut] for s, f in features_by_symbol.items()}
        pre = cross_sectional(bars_cut, feats_cut)
        for s, f in pre.items():
            ref = full[s].loc[f.index]
            for col in f.columns:
                row = _first_mismatch(ref[col].to_numpy(dtype="float64"), f[col].to_numpy(dtype="float64"))
                if row is not None and (s, col) not in out:
                    out[(s, col)] = Violation(f"universe:{s}", col, i, row, str(f.index[row]),
                                              _num(float(ref[col].iloc[row])), _num(float(f[col].iloc[row])))
    return list(out.values())
