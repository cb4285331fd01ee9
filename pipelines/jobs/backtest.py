"""Backtest stored out-of-sample predictions of one or more models over one or more symbols and
write the report (equity, drawdown, monthly returns, trades).

    python -m pipelines.jobs.backtest --symbols SPX,EURUSD --models xgboost [--sizing kelly] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import uuid
from pathlib import Path

from pipelines.config import MeridianConfig, load_config
from pipelines.store import open_store
from pipelines.evaluation.study import SIZINGS, run_study
from pipelines.reports.backtest import write_study_report


def _plain(o):
    """JSON-safe: NaN/inf -> None, timestamps -> ISO text, NumPy scalars -> Python."""
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, str):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def run(cfg: MeridianConfig, symbols: list[str], models: list[str], sizing: str = "signal",
        out_dir: str | None = None, timeframe: str | None = None, progress: bool = False) -> dict:
    t0 = time.time()
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    out = Path(out_dir) if out_dir else Path(cfg.report_dir) / f"backtest-{run_id}"
    store = open_store(cfg.store)
    try:
        study = run_study(store, cfg, symbols, models, sizing, timeframe=timeframe, progress=progress)
    finally:
        store.close()
    report = write_study_report(study, out, f"Meridian backtest {', '.join(symbols)} ({sizing} sizing)")
    return _plain({"run_id": run_id, "report": str(report), "trades_csv": str(out / "trades.csv"),
                   "models": study.models, "metrics": study.metrics, "seconds": round(time.time() - t0, 2)})


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", required=True, help="comma-separated symbols")
    p.add_argument("--models", required=True, help="comma-separated model names or model ids")
    p.add_argument("--sizing", choices=SIZINGS, default="signal",
                   help="signal: +-1/0 from the expected return; kelly: fractional Kelly x dynamic leverage under the risk limits")
    p.add_argument("--timeframe", help="only predictions of this bar timeframe (e.g. 1h, 1d)")
    p.add_argument("--out", help="report folder (default: <report_dir>/backtest-<run id>)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def text_of(out: dict) -> str:
    m = out["metrics"]
    def f(v):
        return "n/a" if v is None else f"{v:.4f}"
    return (f"total return {f(m['total_return'])} (buy & hold {f(m['buy_and_hold_total_return'])}), "
            f"Sharpe {f(m['sharpe'])}, max drawdown {f(m['max_drawdown'])}, "
            f"{m['trade_trades']} trades, win rate {f(m['trade_win_rate'])}, "
            f"profit factor {f(m['trade_profit_factor'])}\nreport: {out['report']}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.backtest", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML configuration")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = load_config(args.config)
    out = run(cfg, args.symbols.split(","), args.models.split(","), args.sizing, args.out, args.timeframe,
              progress=not args.json)
    print(json.dumps(out, default=str) if args.json else text_of(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
