"""Paper replay speed: bars per second of ``StrategyAccount.replay`` (what `meridian paper
replay` runs) for one symbol, with the signal rule and with Kelly sizing, on a lake of synthetic
hourly bars and a recorded run; and of the live step (``on_bar``, one bar decided alone, as the
live loop does) over the last ``--live`` bars of an account that replayed the rest.

    PYTHONPATH=. python tests/bench/bench_paper.py [--bars 5000]

One JSON object per line per figure: {"bench", "value", "unit", "baseline", "ratio"}; the
baseline is the target of 1,000 bars/s."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from pipelines.config import MeridianConfig
from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.replay import StrategyAccount
from tests.trading.test_backtest_cli import seed_run

TARGET = 1000.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bars", type=int, default=5000)
    p.add_argument("--live", type=int, default=500)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        store = ParquetStore(Path(d) / "lake")
        run_id = seed_run(store, symbols=(("BTCUSDT", "crypto", 1),), n=args.bars, horizons=(1,))
        for rule in ("signal", "kelly"):
            st = strategies.save(store, strategies.from_run(store, MeridianConfig(), run_id, ["xgboost", "logistic"],
                                                            1, rule=rule))
            acct = StrategyAccount(store, st)
            t0 = time.perf_counter()
            n = acct.replay()
            secs = time.perf_counter() - t0
            v = n / secs
            print(json.dumps({"bench": f"paper_replay_bars_per_s[{rule}]", "value": round(v, 1), "unit": "bars/s",
                              "baseline": TARGET, "ratio": round(v / TARGET, 3), "bars": n,
                              "final_equity": acct.summary()["final_equity"]}), flush=True)
            step = StrategyAccount(store, st, account=f"live-{rule}")
            step.replay(max_bars=n - args.live)
            rows = list(step._rows(step._bars(step.last_ts + pd.Timedelta(1, "ns"))))
            t0 = time.perf_counter()
            for ts, row in rows:
                step.on_bar(ts, row)
            secs = time.perf_counter() - t0
            v = len(rows) / secs
            assert abs(step.summary()["final_equity"] / acct.summary()["final_equity"] - 1) < 1e-9
            print(json.dumps({"bench": f"paper_live_step_bars_per_s[{rule}]", "value": round(v, 1), "unit": "bars/s",
                              "baseline": TARGET, "ratio": round(v / TARGET, 3), "bars": len(rows),
                              "history_bars": n - args.live}), flush=True)


if __name__ == "__main__":
    main()
