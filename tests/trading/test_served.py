"""The served decision carried from request to request (pipelines.trading.served) against the
recomputation over the whole history (pipelines.trading.replay.served_decision) on the same bars
and the same served answers, request after request."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.config import MeridianConfig
from pipelines.evaluation import runs
from pipelines.store import ParquetStore
from pipelines.trading import strategy as strategies
from pipelines.trading.replay import served_decision
from pipelines.trading.served import ServedStrategy
from tests.trading.test_backtest_cli import seed_run

MODELS = ["xgboost", "logistic"]


def assert_same(got: dict, want: dict) -> None:
    assert got["ts"] == want["ts"] and set(got["symbols"]) == set(want["symbols"])
    for s, w in want["symbols"].items():
        g = got["symbols"][s]
        assert (g["ts"], g["signal"], g["source"]) == (w["ts"], w["signal"], w["source"]), s
        for k in ("target", "held", "expected_return", "prob_up", "confidence"):
            if w[k] is None:
                assert g[k] is None, (s, k)
            else:
                assert g[k] == pytest.approx(w[k], rel=1e-12, abs=1e-15), (s, k)


def short_strategy(store, rule: str, cut_from_end: int):
    """A run that stops ``cut_from_end`` prediction bars before the seeded one, its strategy, and
    what the served models answer for the bars after it (the longer run's predictions), per bar."""
    run_id = seed_run(store, n=640, horizons=(1,))
    full = strategies.run_predictions(store, run_id, MODELS, 1)
    cut = sorted(full["ts"].unique())[-cut_from_end]
    short = runs.start(store, kind="walkforward", config={}, config_hash="s" * 16, symbols=["BTCUSDT", "EURUSD"],
                       models=MODELS, horizons=[1])
    for (m, s), g in full[full["ts"] < cut].groupby(["model", "symbol"]):
        runs.record_predictions(store, short.run_id, m, 1, s, "1h", pd.DataFrame(
            {"expected_return": g["prediction"].to_numpy(), "prob_up": g["prob_up"].to_numpy(),
             "realized_return": g["realized"].to_numpy(), "fold": g["fold"].to_numpy()},
            index=pd.DatetimeIndex(g["ts"], name="ts")))
    runs.finish(store, short, {"horizons": {}}, {})
    st = strategies.save(store, strategies.from_run(store, MeridianConfig(), short.run_id, MODELS, 1,
                                                    rule=rule, combiner="average", name=f"short-{rule}"))
    later = full[full["ts"] >= cut]
    answers = {ts: {str(s): {m: pd.DataFrame({"expected_return": f["prediction"].to_numpy(),
                                              "prob_up": f["prob_up"].to_numpy()},
                                             index=pd.DatetimeIndex(f["ts"], name="ts"))
                             for m, f in g.groupby("model")} for s, g in by_ts.groupby("symbol")}
               for ts, by_ts in later.groupby("ts")}
    return st, answers


def merged(given: list[dict]) -> dict:
    """Every answer given so far, per symbol and model (what the carried decision has kept)."""
    out: dict = {}
    for a in given:
        for s, frames in a.items():
            for m, f in frames.items():
                out.setdefault(s, {}).setdefault(m, []).append(f)
    return {s: {m: pd.concat(fs) for m, fs in frames.items()} for s, frames in out.items()}


@pytest.mark.parametrize("rule", ["signal", "kelly"])
def test_the_carried_decision_equals_the_recomputation_bar_after_bar(tmp_path, rule):
    store = ParquetStore(tmp_path / "lake")
    st, answers = short_strategy(store, rule, cut_from_end=40)
    times = sorted(answers)
    # the newest 20 bars are not stored yet
    bars = {s: store.read("bars", {"symbol": s}) for s in st.symbols}
    withheld = {s: b[b["ts"] >= times[20]] for s, b in bars.items()}
    for s, b in withheld.items():
        store.delete("bars", {"symbol": s, "ts": list(b["ts"])})

    carried, given = ServedStrategy(store, st), []
    first = carried.advance()
    assert_same(first, served_decision(store, st))
    assert first["symbols"]["BTCUSDT"]["source"] == "run"
    n0 = carried.decided_bars
    assert carried.full_decides == 1 and n0 > 300
    # a request with nothing new decides nothing
    assert carried.advance() == first and carried.decided_bars == n0

    # one new answered bar per request: each decided alone, equal to the whole history decided again
    for k, ts in enumerate(times[:20]):
        given.append(answers[ts])
        got = carried.advance(answers[ts])
        assert got["ts"] == ts.isoformat() and got["symbols"]["EURUSD"]["source"] == "served models"
        if k in (0, 1, 7, 19):
            assert_same(got, served_decision(store, st, merged(given)))
        assert (carried.full_decides, carried.decided_bars) == (1, n0 + k + 1)
    if rule == "kelly":   # sized: the comparison is not of flat books
        assert any(abs(d["target"]) not in (0.0, 0.5) for d in got["symbols"].values())

    # one symbol's bar stored late: the bar decided without it is decided again, with it
    store.write("bars", withheld["BTCUSDT"].iloc[:1])
    given.append(answers[times[20]])
    assert_same(carried.advance(answers[times[20]]), served_decision(store, st, merged(given)))
    assert carried.full_decides == 1
    store.write("bars", withheld["EURUSD"].iloc[:1])
    assert_same(carried.advance(), served_decision(store, st, merged(given)))
    assert carried.full_decides == 2

    # the rest at once: the new bars decided in one block
    for s, b in withheld.items():
        store.write("bars", b.iloc[1:])
    given += [answers[ts] for ts in times[21:]]
    before = carried.decided_bars
    got = carried.advance(merged([answers[ts] for ts in times[21:]]))
    assert_same(got, served_decision(store, st, merged(given)))
    assert got["ts"] == times[-1].isoformat()
    assert carried.full_decides == 2 and carried.decided_bars == before + len(times) - 21
