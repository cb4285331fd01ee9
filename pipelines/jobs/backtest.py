"""Backtest a strategy, or a run's models at one horizon, over its symbols and write the report (equity, drawdown, monthly returns, trades).

    python -m pipelines.jobs.backtest --strategy ID [--symbols S] [--since T] [--json]
    python -m pipelines.jobs.backtest --run ID --models xgboost --horizon 1 [--sizing kelly] [--json]
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
from pipelines.evaluation.study import resolve, run_study
from pipelines.trading.strategy import RULES
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


def run(cfg: MeridianConfig, strategy: str | None = None, run_id: str | None = None,
        models: list[str] | None = None, horizon: int | None = None, symbols: list[str] | None = None,
        sizing: str = "signal", since: str | None = None, until: str | None = None,
        out_dir: str | None = None) -> dict:
    t0 = time.time()
    bt_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    out = Path(out_dir) if out_dir else Path(cfg.report_dir) / f"backtest-{bt_id}"
    store = open_store(cfg.store)
    try:
        st = resolve(store, cfg, strategy, run_id, models, horizon, sizing, symbols)
        study = run_study(store, st, symbols, since, until)
    finally:
        store.close()
    report = write_study_report(study, out, f"Meridian backtest of {st.name} ({', '.join(study.models)})")
    return _plain({"backtest_id": bt_id, "strategy": st.summary(), "report": str(report),
                   "trades_csv": str(out / "trades.csv"), "models": study.models, "metrics": study.metrics,
                   "final_equity": study.metrics["final_equity"], "per_symbol": study.per_symbol,
                   "warnings": study.warnings, "seconds": round(time.time() - t0, 2)})


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", help="a stored strategy id (`meridian strategy list`)")
    p.add_argument("--run", help="a recorded run id (`meridian runs list`), with --models and --horizon")
    p.add_argument("--models", help="comma-separated model names of the run")
    p.add_argument("--horizon", type=int, help="the run's horizon in bars (h1, h24, ...)")
    p.add_argument("--symbols", help="comma-separated symbols (default: all of the strategy's)")
    p.add_argument("--sizing", choices=RULES, default="signal",
                   help="with --run: signal: +-1/0 from the expected return, an equal share per symbol; "
                        "kelly: fractional Kelly x dynamic leverage under the risk limits")
    p.add_argument("--since", help="first bar (UTC)")
    p.add_argument("--until", help="last bar (UTC)")
    p.add_argument("--out", help="report folder (default: <report_dir>/backtest-<id>)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run_args(cfg: MeridianConfig, args: argparse.Namespace) -> dict:
    def split(v):
        return [x.strip() for x in v.split(",") if x.strip()] if v else None
    return run(cfg, args.strategy, args.run, split(args.models), args.horizon, split(args.symbols),
               args.sizing, args.since, args.until, args.out)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.3g}%"


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def text_of(out: dict) -> str:
    m, st = out["metrics"], out["strategy"]
    lines = [f"strategy {st['strategy_id']} ({st['name']}): run {st['run_id']}, {', '.join(st['models'])} "
             f"h{st['horizon']}, {st['rule']} sizing, {m['first_ts']} .. {m['last_ts']}",
             f"{'':22s}{'strategy':>12s}{'buy & hold':>12s}",
             f"{'total return':22s}{_pct(m['total_return']):>12s}{_pct(m['buy_and_hold_total_return']):>12s}",
             f"{'Sharpe':22s}{_num(m['sharpe']):>12s}{_num(m['buy_and_hold_sharpe']):>12s}",
             f"{'max drawdown':22s}{_pct(m['max_drawdown']):>12s}{_pct(m['buy_and_hold_max_drawdown']):>12s}",
             f"{'gross leverage':22s}{_num(m['gross_leverage']) + 'x':>12s}"
             f"{_num(m['buy_and_hold_gross_leverage']) + 'x':>12s}",
             f"{'net leverage':22s}{_num(m['net_leverage']) + 'x':>12s}{_num(m['buy_and_hold_net_leverage']) + 'x':>12s}",
             f"{'1x-normalised return':22s}{_pct(m['normalised_1x_total_return']):>12s}"
             f"{_pct(m['buy_and_hold_total_return']):>12s}",
             f"costs {_pct(m['costs_paid'])} of equity, {m['trade_trades']} trades, win rate "
             f"{_pct(m['trade_win_rate'])}, final equity {m['final_equity']:.6g}",
             f"{'symbol':10s}{'return':>10s}{'costs':>10s}{'exposure':>10s}{'trades':>8s}{'buy&hold':>10s}"]
    for r in out["per_symbol"]:
        lines.append(f"{r['symbol']:10s}{_pct(r['return']):>10s}{_pct(r['costs']):>10s}"
                     f"{_num(r['avg_exposure']) + 'x':>10s}{r['trades']:>8d}{_pct(r['buy_and_hold_return']):>10s}")
    lines += [f"WARNING: {w}" for w in out["warnings"]]
    lines.append(f"report: {out['report']}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines.jobs.backtest", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="YAML configuration")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = load_config(args.config)
    out = run_args(cfg, args)
    print(json.dumps(out, default=str) if args.json else text_of(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
