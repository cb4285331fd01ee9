"""The backtest report: equity curve against buy & hold, drawdown, a monthly returns heatmap and
the trade list, as one HTML page (Plotly's JavaScript written beside it, so it opens offline)."""

from __future__ import annotations

import html
import math
from pathlib import Path

from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go

from pipelines.reports.html import write_metrics
from pipelines.trading.tradestats import drawdown, monthly_returns

if TYPE_CHECKING:
    from pipelines.evaluation.study import Study

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M")
    return html.escape(str(v))


def _table(df: pd.DataFrame, limit: int = 500) -> str:
    if df.empty:
        return "<p>no trades</p>"
    more = f"<p>first {limit} of {len(df)} trades (all in trades.csv)</p>" if len(df) > limit else ""
    df = df.head(limit)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"{more}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metric_rows(metrics: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>"
                   for k, v in metrics.items() if isinstance(v, (int, float, str)))
    return f"<table>{rows}</table>"


def figures(equity: pd.Series, benchmark: pd.Series | None, returns: pd.Series) -> dict[str, go.Figure]:
    eq = go.Figure()
    eq.add_trace(go.Scatter(x=equity.index, y=equity.to_numpy(), mode="lines", name="strategy"))
    if benchmark is not None:
        eq.add_trace(go.Scatter(x=benchmark.index, y=benchmark.to_numpy(), mode="lines", name="buy & hold"))
    eq.update_layout(title="Equity (after costs)", height=380, yaxis_title="equity")
    dd = drawdown(equity)
    ddf = go.Figure(go.Scatter(x=dd.index, y=dd.to_numpy(), fill="tozeroy", mode="lines", name="drawdown"))
    ddf.update_layout(title="Drawdown", height=280, yaxis_tickformat=".1%")
    m = monthly_returns(returns)
    heat = go.Figure(go.Heatmap(z=m.to_numpy(), x=MONTHS, y=[str(y) for y in m.index], colorscale="RdYlGn",
                                zmid=0.0, texttemplate="%{z:.1%}", hovertemplate="%{y} %{x}: %{z:.2%}"))
    heat.update_layout(title="Monthly returns", height=120 + 30 * max(len(m), 1))
    return {"equity": eq, "drawdown": ddf, "monthly": heat}


def write_backtest_report(out_dir: Path, title: str, metrics: dict, equity: pd.Series,
                          returns: pd.Series, trades: pd.DataFrame,
                          benchmark: pd.Series | None = None, notes: list[str] | None = None) -> Path:
    """Writes ``report.html``, ``metrics.json`` and ``trades.csv`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "plotly.min.js"
    if not js.exists():
        from plotly.offline import get_plotlyjs
        js.write_text(get_plotlyjs())
    parts = []
    for i, (name, fig) in enumerate(figures(equity, benchmark, returns).items()):
        fig.update_layout(margin=dict(l=50, r=20, t=50, b=30))
        parts.append(fig.to_html(full_html=False, include_plotlyjs="directory" if i == 0 else False,
                                 div_id=f"fig-{name}"))
    trades.to_csv(out_dir / "trades.csv", index=False)
    write_metrics(out_dir, metrics)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;font-size:13px;margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
th{{background:#f3f3f3}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Signals decided at each bar's close and filled at the next bar's open, after fees, spread,
slippage and financing. Predictions are the models' out-of-sample (walk-forward) predictions.</p>
{''.join(f'<p>{html.escape(n)}</p>' for n in (notes or []))}
<h2>Summary</h2>{_metric_rows(metrics)}
{''.join(parts)}
<h2 id="trades">Trades</h2>{_table(trades)}
</body></html>"""
    path = out_dir / "report.html"
    path.write_text(page)
    return path


def write_study_report(study: "Study", out_dir: Path, title: str) -> Path:
    notes = [f"{s}: {', '.join(ids)}" for s, ids in study.models.items()]
    return write_backtest_report(out_dir, title, study.metrics, study.result.equity, study.result.returns,
                                 study.result.trade_list, study.benchmark, notes)
