"""Write a run's report folder: ``metrics.json`` and ``report.html`` (plots via Plotly, its
JavaScript written beside the page so the report opens offline)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go


def _clean(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):
        return _clean(o.item())
    return o


def write_metrics(out_dir: Path, metrics: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(_clean(metrics), indent=2, sort_keys=True))
    return path


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4f}"
    return html.escape(str(v))


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>no rows</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(out_dir: Path, title: str, summary_rows: list[dict],
                 equity: dict[str, dict[str, pd.Series]], notes: list[str] | None = None) -> Path:
    """``equity``: symbol -> {curve name -> equity series}; one plot per symbol."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "plotly.min.js"
    if not js.exists():
        from plotly.offline import get_plotlyjs
        js.write_text(get_plotlyjs())
    figs = []
    for i, (symbol, curves) in enumerate(equity.items()):
        fig = go.Figure()
        for name, s in curves.items():
            fig.add_trace(go.Scatter(x=s.index, y=s.to_numpy(), mode="lines", name=name))
        fig.update_layout(title=f"{symbol}: out-of-sample equity (after costs)", height=380,
                          margin=dict(l=40, r=20, t=50, b=30), yaxis_title="equity")
        figs.append(fig.to_html(full_html=False, include_plotlyjs="directory" if i == 0 else False,
                                div_id=f"equity-{symbol}"))
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f3f3f3}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>All figures are out-of-sample (walk-forward, purged), after fees, spread and slippage.</p>
{''.join(f'<p>{html.escape(n)}</p>' for n in (notes or []))}
<h2>Summary</h2>{_table(summary_rows)}
<h2>Equity curves</h2>{''.join(figs)}
</body></html>"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path
