"""The build job on a real local Ray: per-symbol tasks through the feature store, the universe
stage, reuse on a rerun; and the ``meridian features`` commands end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import main
from pipelines.features.store import DEFAULT_STORE_DTYPE, FeatureStore, precision_of
from tests.synthetic.bars import synthetic_bars
from pipelines.jobs.features import SymbolInput, run_build

SET = "core"


def _inputs(n=700):
    return [SymbolInput(f"S{i}", "1h", "crypto", synthetic_bars(n, seed=60 + i, symbol=f"S{i}")) for i in range(3)]


def test_build_on_ray_then_reuse(ray_session, tmp_path):
    inputs = _inputs()
    peers = {"spy": synthetic_bars(700, seed=99, symbol="SPY")}
    res = run_build(inputs, SET, str(tmp_path), peers=peers, progress=False, timeout_s=300)
    assert sorted(res.symbols) == ["S0", "S1", "S2"]
    assert {v["action"] for v in res.symbols.values()} == {"full"}
    version = res.symbols["S0"]["version"]
    store = FeatureStore(tmp_path)
    frame, info = store.read("S1", "1h", version)
    assert len(frame) == 700 and info["bars"] == 700 and frame.index.name == "ts"
    # the universe stage ranked across the three symbols, stored beside them
    xs, _ = store.read("S2", "1h", res.universe["version"])
    assert "xs_alpha001" in xs.columns and "xs_rank_rsi_14" in xs.columns
    ranks = pd.concat({s: store.read(s, "1h", res.universe["version"])[0]["xs_rank_rsi_14"] for s in ("S0", "S1", "S2")}, axis=1)
    row = ranks.dropna().iloc[-1]
    np.testing.assert_allclose(sorted(row.tolist()), [1 / 3, 2 / 3, 1.0], rtol=precision_of(DEFAULT_STORE_DTYPE))
    again = run_build(inputs, SET, str(tmp_path), peers=peers, progress=False, timeout_s=300)
    assert {v["action"] for v in again.symbols.values()} == {"reused"}
    assert again.universe["action"] == "reused" and again.universe["dates_computed"] == 0


def test_cli_list_and_check(tmp_path, capsys):
    assert main(["features", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["n_columns"] >= 200 and listed["n_specs"] == len(listed["specs"])
    bars = synthetic_bars(400, seed=70, symbol="CHK")
    path = tmp_path / "CHK_1h.csv"
    bars[["ts", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)
    rc = main(["features", "causality-check", "--data", str(path), "--asset-class", "crypto", "--tz", "UTC",
               "--points", "3", "--spec", "rsi_21", "--spec", "session_transfer", "--spec", "ichimoku", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["specs_checked"] == 3 and out["violations"] == []
    with pytest.raises(SystemExit):
        main(["features", "causality-check", "--points", "3"])  # needs --data or --symbol


def test_cli_build_from_the_store(ray_session, tmp_path, capsys, monkeypatch):
    from pipelines.store import ParquetStore
    lake = ParquetStore(tmp_path / "lake")
    for i in range(3):
        lake.write("bars", synthetic_bars(500, seed=80 + i, symbol=f"B{i}"))
    lake.close()
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("MERIDIAN__FEATURES__STORE_PATH", str(tmp_path / "features"))
    rc = main(["features", "build", "--set", "core", "--timeframe", "1h", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and sorted(out["symbols"]) == ["B0", "B1", "B2"] and out["universe"]["symbols"] == ["B0", "B1", "B2"]
    assert any((tmp_path / "features").rglob("B1/part-*.parquet"))
    assert main(["features", "build", "--symbols", "NOPE", "--json"]) == 1


def test_cli_check_exits_non_zero_on_a_leak(tmp_path, capsys, monkeypatch):
    # a user's own feature module with a spec that reads the next bar's close
    (tmp_path / "leaky_features.py").write_text(
        "import numpy as np\n"
        "from pipelines.features.kernels import spec\n"
        "FEATURES = (spec('leak_next_close', 'test', ('leak_next_close',), 0,\n"
        "                 lambda b, c: {'leak_next_close': np.append(b['close'].to_numpy()[1:], np.nan)}),)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bars = synthetic_bars(300, seed=71, symbol="LEAK")
    path = tmp_path / "LEAK_1h.csv"
    bars[["ts", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)
    rc = main(["features", "causality-check", "--data", str(path), "--tz", "UTC", "--points", "4", "--set", "core",
               "--module", "leaky_features"])
    text = capsys.readouterr().out
    assert rc == 1 and "VIOLATION leak_next_close.leak_next_close" in text and "FAILED: 1 violations" in text


def test_cli_check_refuses_a_module_without_features(tmp_path, capsys):
    path = tmp_path / "X_1h.csv"
    synthetic_bars(100, seed=3, symbol="X")[["ts", "open", "high", "low", "close", "volume"]].to_csv(path, index=False)
    assert main(["features", "causality-check", "--data", str(path), "--tz", "UTC", "--module", "no_such_mod_xyz"]) == 1
    assert "cannot import it" in capsys.readouterr().err
    assert main(["features", "causality-check", "--data", str(path), "--tz", "UTC", "--module", "json"]) == 1
    assert "declares no FEATURES" in capsys.readouterr().err
