"""``meridian data list|delete``, ``meridian --version`` and the per-file report of
``meridian import`` (both stores)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pandas as pd

from tests.cli.conftest import CORPUS


def _seed(cli_store) -> None:
    for seed in ("SEED_1h.csv", "STOCK_1d.csv"):
        assert cli_store.run("import", str(CORPUS / "good" / seed), "--asset-class", "stock", "--tz", "UTC") == 0


def test_data_list_json_and_table(cli_store, capsys):
    assert cli_store.run("data", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    _seed(cli_store)
    capsys.readouterr()
    assert cli_store.run("data", "list", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {"symbol": "SEED", "timeframe": "1h", "asset_class": "stock", "rows": 30,
         "first": "2021-03-01T00:00:00+00:00", "last": "2021-03-02T05:00:00+00:00"},
        {"symbol": "STOCK", "timeframe": "1d", "asset_class": "stock", "rows": 28,
         "first": "2020-01-01T00:00:00+00:00", "last": "2020-01-28T00:00:00+00:00"}]
    assert cli_store.run("data", "list") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["symbol", "timeframe", "asset_class", "rows", "first", "last"]
    assert table[1].split()[:4] == ["SEED", "1h", "stock", "30"]


def test_data_delete_asks_then_deletes(cli_store, capsys):
    _seed(cli_store)
    capsys.readouterr()
    before = cli_store.digest()
    assert cli_store.run("data", "delete", "--symbol", "STOCK") == 1  # no terminal to ask: refused
    assert "pass --yes" in capsys.readouterr().err
    assert cli_store.digest() == before
    assert cli_store.run("data", "delete", "--symbol", "NOPE", "--yes") == 1
    assert "no stored bars for NOPE" in capsys.readouterr().err
    assert cli_store.run("data", "delete", "--symbol", "STOCK", "--timeframe", "1h", "--yes") == 1
    capsys.readouterr()
    assert cli_store.run("data", "delete", "--symbol", "STOCK", "--timeframe", "1d", "--yes", "--json") == 0
    assert json.loads(capsys.readouterr().out)["rows_deleted"] == 28
    assert cli_store.store.read_bars("STOCK", "1d").empty
    assert len(cli_store.store.read_bars("SEED", "1h")) == 30
    # with the stored copy gone, the other-zone import the corpus refuses now goes in
    assert cli_store.run("import", str(CORPUS / "good" / "STOCK_1d.csv"), "--asset-class", "stock",
                         "--tz", "America/New_York") == 0
    assert cli_store.store.last_ts("STOCK", "1d") == pd.Timestamp("2020-01-28 05:00", tz="UTC")


def test_import_reports_each_file(cli_store, capsys):
    bad = CORPUS / "bad_files" / "truncated_last_field.csv"
    good = CORPUS / "good" / "SEED_1h.csv"
    rc = cli_store.run("import", str(bad), str(good), "--asset-class", "stock", "--tz", "UTC")
    out, err = capsys.readouterr()
    assert rc == 1
    assert out.splitlines() == [f"{good}: 30 SEED 1h bars (ohlcv, 2021-03-01T00:00:00+00:00 .. "
                                f"2021-03-02T05:00:00+00:00); rejected none, repaired none"]
    assert err.splitlines() == [l for l in err.splitlines() if l.startswith("meridian: error: truncated_last_field.csv")]
    assert len(err.splitlines()) == 1
    assert len(cli_store.store.read_bars("SEED", "1h")) == 30
    rc = cli_store.run("import", str(bad), str(good), "--asset-class", "stock", "--tz", "UTC", "--json")
    res = json.loads(capsys.readouterr().out)
    assert rc == 1 and [r["ok"] for r in res] == [False, True]
    assert "last line looks cut" in res[0]["error"] and res[1]["rows_written"] == 30


def test_reimport_in_the_same_zone_is_idempotent(cli_store):
    _seed(cli_store)
    before = cli_store.digest()
    _seed(cli_store)
    assert cli_store.digest() == before


def test_version():
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"meridian {version('meridian')}"
