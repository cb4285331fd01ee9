"""The Parquet lake commits each write whole: a writer killed at any instant leaves every
partition old or every partition new, and the next open finishes or undoes its commit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from pipelines.store import ParquetStore

REPO = str(Path(__file__).resolve().parents[2])

BIG = textwrap.dedent("""
    import sys, numpy as np, pandas as pd
    sys.path.insert(0, {repo!r})
    from pipelines.store import ParquetStore
    store = ParquetStore(sys.argv[1])
    n = 2_000_000  # 1m bars from 2000-01-01: six year partitions
    ts = pd.date_range("2000-01-01", periods=n, freq="min", tz="UTC")
    x = np.linspace(100, 200, n)
    big = pd.DataFrame({{"symbol": "AAA", "asset_class": "crypto", "venue": "t", "timeframe": "1m",
                        "ts": ts, "open": x, "high": x + 1, "low": x - 1, "close": x, "volume": 1.0,
                        "known_at": ts + pd.Timedelta(minutes=1)}})
    print("writing", flush=True)
    store.write("bars", big)
    print("done", flush=True)
""")

# Stages a two-year write, passes the commit point, then dies before applying it.
DIES_AFTER_COMMIT = textwrap.dedent("""
    import os, signal, sys, pandas as pd
    sys.path.insert(0, {repo!r})
    from pipelines.schema import BARS, to_arrow
    from pipelines.store import ParquetStore
    from pipelines.store.base import finish, prepare
    store = ParquetStore(sys.argv[1])
    ts = pd.date_range("2001-12-31 22:00", periods=4, freq="h", tz="UTC")
    new = prepare(pd.DataFrame({{"symbol": "AAA", "asset_class": "crypto", "venue": "t", "timeframe": "1h",
                                "ts": ts, "open": 7.0, "high": 7.0, "low": 7.0, "close": 7.0,
                                "volume": 1.0, "known_at": ts + pd.Timedelta(hours=1)}}), BARS)
    targets = [store._file_for(BARS, {{"timeframe": "1h", "symbol": "AAA"}}, y) for y in (2001, 2002)]
    with store._txn.writing(targets) as commit:
        for path, year in zip(targets, (2001, 2002)):
            part = new[new["ts"].dt.year == year]
            commit.stage(path, to_arrow(finish(part, BARS), BARS))
        commit.commit()
        os.kill(os.getpid(), signal.SIGKILL)
""")


def _seed(store: ParquetStore, start: str, periods: int, freq: str, tf: str) -> pd.DataFrame:
    ts = pd.date_range(start, periods=periods, freq=freq, tz="UTC")
    df = pd.DataFrame({"symbol": "AAA", "asset_class": "crypto", "venue": "t", "timeframe": tf,
                       "ts": ts, "open": 5.0, "high": 6.0, "low": 4.0, "close": 5.0, "volume": 2.0,
                       "known_at": ts + pd.tseries.frequencies.to_offset(freq)})
    store.write("bars", df)
    return df


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith(".tmp") or p.suffix in (".pending", ".commit", ".actions"))


def _wait_for_staged_file(root: Path, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and not any(root.rglob("*.tmp")):
        time.sleep(0.005)


@pytest.mark.parametrize("when", ["first_staged_file", "after_0.3s"])
def test_killed_import_leaves_old_or_new_in_every_partition(tmp_path, when):
    root = tmp_path / "lake"
    store = ParquetStore(root)
    # committed before: bars in 2000 and in 2003, two of the partitions the big write replaces
    _seed(store, "2000-01-01", 500, "min", "1m")
    _seed(store, "2003-06-01", 500, "min", "1m")
    script = tmp_path / "writer.py"
    script.write_text(BIG.format(repo=REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        if when == "first_staged_file":  # some partitions staged, others not yet
            _wait_for_staged_file(root)
        else:
            time.sleep(0.3)
        assert proc.poll() is None, "the writer finished before it could be killed; make the batch bigger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reopened = ParquetStore(root)  # recovery runs on open
    out = reopened.read_bars("AAA", "1m")
    old = (out["close"] == 5.0).all() and len(out) == 1000
    new = len(out) == 2_000_000 and (out["close"] >= 100).all()
    assert old or new, f"a mix: {len(out)} rows, {(out['close'] == 5.0).sum()} old"
    assert out["ts"].is_unique and out["ts"].is_monotonic_increasing
    assert _leftovers(root) == []
    assert reopened.write("bars", out.iloc[:10]) == 10  # the lake still takes writes


def test_commit_point_passed_then_killed_is_rolled_forward(tmp_path):
    root = tmp_path / "lake"
    store = ParquetStore(root)
    _seed(store, "2001-12-31 20:00", 8, "h", "1h")  # 20:00 .. 2002-01-01 03:00: two partitions
    script = tmp_path / "dies.py"
    script.write_text(DIES_AFTER_COMMIT.format(repo=REPO))
    proc = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list((root / "_txn").glob("*.commit"))) == 1  # committed, not yet applied
    out = store.read_bars("AAA", "1h")  # a reader finishes the dead writer's commit first
    assert out["close"].tolist() == [7.0] * 4  # both partition files are the staged ones
    assert _leftovers(root) == []


def test_staged_but_uncommitted_write_is_rolled_back_on_open(tmp_path):
    root = tmp_path / "lake"
    store = ParquetStore(root)
    before = _seed(store, "2001-12-31 20:00", 8, "h", "1h")
    script = tmp_path / "dies.py"
    script.write_text(DIES_AFTER_COMMIT.format(repo=REPO).replace("commit.commit()\n", ""))
    proc = subprocess.run([sys.executable, str(script), str(root)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _leftovers(root)  # the staged files and the plan are still there
    out = ParquetStore(root).read_bars("AAA", "1h")
    assert out["close"].tolist() == before["close"].tolist()
    assert _leftovers(root) == []


def test_readers_during_a_write_see_old_or_new_never_a_mix(tmp_path):
    root = tmp_path / "lake"
    store = ParquetStore(root)
    _seed(store, "2000-01-01", 500, "min", "1m")
    _seed(store, "2003-06-01", 500, "min", "1m")
    script = tmp_path / "writer.py"
    script.write_text(BIG.format(repo=REPO))
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True)
    seen: set[int] = set()
    try:
        assert proc.stdout.readline().strip() == "writing"
        while proc.poll() is None:
            s = store.series_summary()  # footers only: cheap enough to poll
            seen.add(int(s["rows"].sum()))
            time.sleep(0.01)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    seen.add(int(store.series_summary()["rows"].sum()))
    assert seen <= {1000, 2_000_000} and 2_000_000 in seen, seen


WRITES_DAYS = textwrap.dedent("""
    import sys, pandas as pd
    sys.path.insert(0, {repo!r})
    from pipelines.store import ParquetStore
    store = ParquetStore(sys.argv[1])
    for day in sys.argv[2:]:
        ts = pd.date_range(day, periods=1440, freq="min", tz="UTC")
        store.write("bars", pd.DataFrame({{"symbol": "AAA", "asset_class": "crypto", "venue": "t",
                    "timeframe": "1m", "ts": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                    "volume": 1.0, "known_at": ts + pd.Timedelta(minutes=1)}}))
""")


def test_concurrent_writers_to_one_partition_lose_nothing(tmp_path):
    root = tmp_path / "lake"
    ParquetStore(root)
    script = tmp_path / "days.py"
    script.write_text(WRITES_DAYS.format(repo=REPO))
    days = [str(d.date()) for d in pd.date_range("2021-01-01", periods=12, freq="D")]
    procs = [subprocess.Popen([sys.executable, str(script), str(root), *days[i::2]]) for i in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    out = ParquetStore(root).read_bars("AAA", "1m")
    assert len(out) == 12 * 1440 and out["ts"].is_unique


def test_new_bars_are_appended_beside_the_partition_and_merged_back_by_compaction(tmp_path):
    """A live bar after everything a partition holds is one small file of its own (the partition
    file is not rewritten), past MAX_APPENDS too; an older or repeated bar merges; compact() merges
    the partitions that hold MAX_APPENDS appended files, most first, within its budget; a write
    merges by itself once MAX_APPENDS_HELD are waiting. Reads, last_ts and the summary see the same
    rows throughout."""
    from pipelines.store.parquet import MAX_APPENDS, MAX_APPENDS_HELD
    from tests.store.test_contract import make_bars
    store = ParquetStore(tmp_path / "lake")
    bars = make_bars(n=400, start="2024-03-01")
    store.write("bars", bars.iloc[:10])
    part = tmp_path / "lake" / "bars" / "timeframe=1h" / "symbol=AAA"
    base = part / "year=2024.parquet"
    before = base.stat().st_mtime_ns, base.read_bytes()

    def files() -> list[str]:
        return sorted(p.name for p in part.glob("*.parquet"))

    for i in range(10, 12 + MAX_APPENDS):
        store.write("bars", bars.iloc[i:i + 1])
        assert store.last_ts("AAA", "1h") == bars["ts"].iloc[i]
    assert len(files()) == 3 + MAX_APPENDS and (base.stat().st_mtime_ns, base.read_bytes()) == before
    assert files() == sorted(files(), key=lambda n: store._ts_range(part / n)[2])   # names sort as times
    pd.testing.assert_frame_equal(store.read_bars("AAA", "1h").reset_index(drop=True),
                                  bars.iloc[:12 + MAX_APPENDS].reset_index(drop=True), check_like=True)
    other = make_bars(n=5, start="2024-03-01").assign(symbol="BBB")
    store.write("bars", other.iloc[:1])
    for i in range(1, 5):
        store.write("bars", other.iloc[i:i + 1])   # 4 appended files: under the mark, left alone
    assert store.compact("bars", budget_s=0.0) == 0 and len(files()) == 3 + MAX_APPENDS   # no time, no merge
    assert store.compact("bars", where={"symbol": ["BBB"]}) == 0 and len(files()) == 3 + MAX_APPENDS   # AAA not named
    assert store.compact("bars") == 1 and files() == ["year=2024.parquet"]
    bbb = tmp_path / "lake" / "bars" / "timeframe=1h" / "symbol=BBB"
    assert len(list(bbb.glob("*.parquet"))) == 5
    assert store.compact("bars", where={"timeframe": "1h", "symbol": "BBB"}, min_appends=2) == 1
    assert len(list(bbb.glob("*.parquet"))) == 1 and len(store.read_bars("BBB", "1h")) == 5
    assert store.compact("bars") == 0
    pd.testing.assert_frame_equal(store.read_bars("AAA", "1h").reset_index(drop=True),
                                  bars.iloc[:12 + MAX_APPENDS].reset_index(drop=True), check_like=True)
    store.write("bars", bars.iloc[12 + MAX_APPENDS:14 + MAX_APPENDS])
    changed = bars.iloc[[12]].assign(close=9.0)   # a repeated bar: merged, new wins, no duplicate
    store.write("bars", changed)
    assert files() == ["year=2024.parquet"]
    got = store.read_bars("AAA", "1h")
    assert len(got) == 14 + MAX_APPENDS and got.loc[got["ts"] == bars["ts"].iloc[12], "close"].item() == 9.0
    n = 14 + MAX_APPENDS
    for i in range(n, n + MAX_APPENDS_HELD + 2):   # compaction never ran: the write past the held files merges
        store.write("bars", bars.iloc[i:i + 1])
    assert len(files()) == 2   # the merged partition and the one bar appended after it
    n += MAX_APPENDS_HELD + 2
    store.write("bars", bars.iloc[n:n + 2])
    store.write("bars", bars.iloc[n + 2:n + 3])
    assert len(files()) == 4 and store.series_summary().set_index("symbol").loc["AAA", "rows"] == n + 3
    assert store.first_ts("AAA", "1h") == bars["ts"].iloc[0] and store.last_ts("AAA", "1h") == bars["ts"].iloc[n + 2]
    assert store.delete("bars", {"symbol": "AAA"}) == n + 3 and files() == []


def test_a_write_of_many_partitions_appends_them_all_in_one_commit(tmp_path):
    """One bar each for 40 series: 40 appended files, written together, all visible after the write,
    none before it, and the lake recovers from a writer killed after staging them."""
    from tests.store.test_contract import make_bars
    store = ParquetStore(tmp_path / "lake")
    syms = [f"S{i:02d}" for i in range(40)]
    bars = pd.concat([make_bars(n=6, start="2024-03-01").assign(symbol=s) for s in syms], ignore_index=True)
    first = bars.groupby("symbol").head(5)
    store.write("bars", first)
    last = bars.groupby("symbol").tail(1)
    store.write("bars", last)
    lake = tmp_path / "lake" / "bars" / "timeframe=1h"
    assert all(len(list((lake / f"symbol={s}").glob("*.t*.parquet"))) == 1 for s in syms)
    got = store.read("bars", {"timeframe": "1h"})
    assert len(got) == 240 and got.groupby("symbol")["ts"].max().eq(last.set_index("symbol")["ts"]).all()
    assert not list((tmp_path / "lake").rglob("*.tmp"))


def test_distinct_from_footers_equals_distinct_from_the_columns(tmp_path):
    """distinct reads a file's footer when it holds one value per column, its columns otherwise
    (here a series whose appended file changed asset class, and a file holding two)."""
    import pyarrow.parquet as pq
    from pipelines.store.base import spec_of
    from tests.store.test_contract import make_bars
    store = ParquetStore(tmp_path / "lake")
    bars = make_bars(n=60, start="2021-12-31")   # two year partitions
    store.write("bars", bars)
    store.write("bars", bars.assign(symbol="BBB", asset_class="stock").iloc[:3])
    store.write("bars", bars.assign(symbol="BBB").iloc[3:5])          # appended, another value
    store.write("bars", bars.assign(symbol="CCC", asset_class=["stock", "fx"] * 30).iloc[:4])
    cols = ["symbol", "timeframe", "asset_class"]
    files = store._files(spec_of("bars"), {})
    read = pd.concat([pq.read_table(f, columns=cols).to_pandas() for f in files], ignore_index=True)
    expected = read.drop_duplicates().sort_values(cols).reset_index(drop=True)
    got = store.distinct("bars", tuple(cols))
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) == 5


def test_a_read_from_a_time_opens_only_the_files_that_can_hold_its_rows(tmp_path, monkeypatch):
    """Appended files whose newest row (their name) and partition files whose newest row (their
    footer) come before ``start`` are not read; the rows are those of a whole read cut at start,
    at every cut, the boundaries included."""
    import pyarrow.parquet as pq

    import pipelines.store.parquet as lake
    from tests.store.test_contract import make_bars
    store = ParquetStore(tmp_path / "lake")
    bars = make_bars(n=60, start="2024-03-01")
    store.write("bars", bars.iloc[:40])
    for i in range(40, 60, 4):
        store.write("bars", bars.iloc[i:i + 4])   # 5 appended files of 4 bars
    whole = store.read_bars("AAA", "1h")
    opened: list[str] = []
    real = pq.read_table
    monkeypatch.setattr(lake.pq, "read_table", lambda p, *a, **k: (opened.append(Path(p).name), real(p, *a, **k))[1])
    for cut in (0, 39, 40, 43, 44, 57, 59):
        opened.clear()
        start = bars["ts"].iloc[cut]
        got = store.read("bars", {"symbol": "AAA", "timeframe": "1h"}, start=start)
        pd.testing.assert_frame_equal(got.reset_index(drop=True),
                                      whole[whole["ts"] >= start].reset_index(drop=True))
        want_files = (1 if cut < 40 else 0) + 5 - max(0, (cut - 40) // 4)
        assert len(opened) == want_files, (cut, opened)
