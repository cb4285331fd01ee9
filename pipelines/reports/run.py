"""A run's HTML report and ``metrics.json``, rebuilt from its record alone (no recomputation):
the headline figures per symbol, model and horizon beside the baselines, the run's identity
(configuration hash, code version, data digests) and, where the run has one, its signal analysis."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.reports.html import _table, write_metrics

if TYPE_CHECKING:
    from pipelines.evaluation.runs import RunRecord

FIGURES = ("directional_accuracy", "ic", "rank_ic", "strategy_sharpe", "strategy_dsr", "strategy_max_drawdown")


def summary_rows(rec: "RunRecord") -> list[dict[str, Any]]:
    rows = []
    for h, rep in (rec.report.get("horizons") or {}).items():
        for sym, r in (rep.get("symbols") or {}).items():
            for group, kind in (("models", "model"), ("ensembles", "ensemble"), ("baselines", "baseline")):
                for name, m in (r.get(group) or {}).items():
                    rows.append({"symbol": sym, "horizon": int(h), "kind": kind, "name": name,
                                 **{k: m.get(k) for k in FIGURES},
                                 "edge": bool((m.get("edge_test") or {}).get("has_edge"))})
    return rows


def write_run_report(rec: "RunRecord", out_dir: Path) -> dict[str, str]:
    """``report.html`` and ``metrics.json`` of one run under ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = write_metrics(out_dir, {"run_id": rec.run_id, "status": rec.status, "config_hash": rec.config_hash,
                                      "code_version": rec.code_version, "digests": rec.digests, **rec.report})
    ident = (f"run {rec.run_id}: {rec.kind}, {rec.status}"
             + (f" ({rec.reason})" if rec.reason else "")
             + f"; config {rec.config_hash}, code {rec.code_version}, started {rec.created_at.isoformat()}")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Meridian {html.escape(rec.run_id)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f3f3f3}}</style></head>
<body><h1>Meridian run {html.escape(rec.run_id)}</h1>
<p>{html.escape(ident)}</p>
<p>All figures are out of sample (walk-forward, purged), after fees, spread and slippage; baselines are
references on the same rows and are never flagged.</p>
<h2>Summary</h2>{_table(summary_rows(rec))}
</body></html>"""
    path = out_dir / "report.html"
    path.write_text(page)
    return {"html": str(path), "metrics": str(metrics)}
