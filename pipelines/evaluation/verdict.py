"""The run-wide verdict: one correction over every test of a run, one trial count for every
deflated Sharpe ratio, and baselines kept as references.

A run is one or more walk-forward reports (one per horizon) as built by
:func:`pipelines.jobs.train.run`. Its tests are the edge test of every model and ensemble on every
symbol and horizon (directional accuracy against the always-majority predictor, see
:mod:`pipelines.evaluation.significance`) and, for cross-sections of five or more symbols, the
rank-IC Newey-West t of every model across symbols (one-sided). Their p-values are adjusted
together with Holm's step-down method (family-wise error rate at ``alpha``). The deflated Sharpe
ratio of every candidate, of its returns and of its returns in excess of buy-and-hold's (drift
earns a Sharpe ratio too), is recomputed with the run's number of trials (every candidate of
every symbol and horizon, plus those tried earlier on the same series) and the variance of
their Sharpe ratios. Baselines (buy-and-hold, momentum, reversal) are never flagged.

:func:`judge` works on the report dicts in place and is idempotent: it recomputes from the raw
p-values and Sharpe statistics each report keeps.
"""

from __future__ import annotations

from pipelines.evaluation.metrics import dsr_from_stats
from pipelines.evaluation.significance import CORRECTION, adjust, t_to_p

ALPHA = 0.05


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def _candidates(rep: dict):
    for r in rep["symbols"].values():
        for group in ("models", "ensembles"):
            yield from r.get(group, {}).values()


def judge(reports: list[dict], alpha: float = ALPHA, method: str = CORRECTION) -> dict:
    """Correct every test of the run, re-deflate every Sharpe ratio, mark the baselines; the
    verdict summary is also stored as ``report["verdict"]`` in each report."""
    tests: list[tuple[dict, float, float]] = []   # (where the verdict goes, raw p, effect)
    cands: list[dict] = []
    prior = 0
    for rep in reports:
        for r in rep["symbols"].values():
            prior += int(r.get("prior_trials") or 0)
            for b in r.get("baselines", {}).values():
                if b.get("edge_test"):
                    b["edge_test"].update({"has_edge": False, "reference": True, "p_adjusted": None})
        for m in _candidates(rep):
            cands.append(m)
            et = m.get("edge_test")
            if et:
                tests.append((et, _num(et.get("p_value")), _num(et.get("excess_accuracy"))))
        sig = rep.get("signal")
        if sig:
            for s in sig.get("models", {}).values():
                s["p_value"] = t_to_p(s.get("rank_ic_nw_t"))
                tests.append((s, s["p_value"], _num(s.get("rank_ic_mean"))))
            for s in sig.get("baselines", {}).values():
                s.update({"has_edge": False, "reference": True,
                          "p_value": t_to_p(s.get("rank_ic_nw_t")), "p_adjusted": None})
    p_adj = adjust([p for _, p, _ in tests], method)
    flagged = 0
    for (where, _, effect), pa in zip(tests, p_adj):
        edge = bool(effect > 0 and pa < alpha)
        where.update({"p_adjusted": float(pa), "alpha": alpha, "has_edge": edge})
        flagged += edge
    n_trials = max(1, len(cands) + prior)
    for key, stats_key in (("strategy_dsr", "strategy_sharpe_stats"), ("strategy_excess_dsr", "excess_sharpe_stats")):
        stats = [m.get(stats_key) or {} for m in cands]
        sharpes = [_num(st.get("sr")) for st in stats]
        for m, st in zip(cands, stats):
            if st:
                st = {k: _num(v) if k != "n" else int(v or 0) for k, v in st.items()}
                dsr = dsr_from_stats(st, n_trials, sharpes)
                m[key] = dsr if dsr == dsr else None          # reports stay strict JSON
    for m in cands:
        m["n_trials"] = n_trials
    verdict = {"method": method, "alpha": alpha, "tests": len(tests), "flagged": int(flagged),
               "n_trials": n_trials, "prior_trials": prior, "candidates": len(cands),
               "explain": explain(method, alpha, len(tests), n_trials, len(cands), prior)}
    for rep in reports:
        rep["verdict"] = verdict
    return verdict


def explain(method: str, alpha: float, tests: int, n_trials: int, candidates: int, prior: int) -> list[str]:
    """One line each for EDGE, DSR and the trial count."""
    name = {"holm": "Holm", "fdr_bh": "Benjamini-Hochberg"}.get(method, method)
    edge = (f"EDGE: directional accuracy above the always-majority predictor's on the same test rows "
            f"(Newey-West t, lags = horizon), or for a cross-section a positive rank-IC Newey-West t, "
            f"{name}-corrected over all {tests} tests of this run at {alpha:g}; baselines are references, never flagged")
    dsr = (f"DSR: probability that the strategy's true Sharpe after costs beats the best Sharpe that "
           f"{n_trials} unskilled trials would show by luck (deflated Sharpe ratio, Bailey & Lopez de Prado); "
           f"xDSR: the same on its returns in excess of buy-and-hold's")
    trials = (f"trials: {n_trials} = {candidates} candidates in this run (symbols x models/ensembles x horizons)"
              f" + {prior} tried earlier on the same series")
    return [edge, dsr, trials]

