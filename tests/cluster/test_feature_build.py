"""The feature build spread over the simulated two-node cluster: per-symbol tasks land on both
nodes, the universe stage runs as date-chunk tasks, and what is stored equals a build done in
one process; a node that does not see the driver's feature store refuses to build."""

from __future__ import annotations

import pandas as pd
import pytest

import pipelines.features.universe as universe_mod
from pipelines.errors import DataError
from pipelines.features.store import FeatureStore
from pipelines.jobs.features import (SymbolInput, build_symbol, build_universe, placements, run_build,
                                    store_nodes)
from tests.synthetic.bars import synthetic_bars

SET = "core"
SYMBOLS = ("A1", "B2", "C3", "D4")


def _inputs(n: int) -> list[SymbolInput]:
    return [SymbolInput(s, "1h", "crypto", synthetic_bars(n, seed=300 + i, symbol=s)) for i, s in enumerate(SYMBOLS)]


def _stored(root, version: str) -> dict[str, pd.DataFrame]:
    st = FeatureStore(root)
    return {s: st.read(s, "1h", version)[0] for s in SYMBOLS}


def test_a_build_spreads_over_both_nodes_and_equals_one_process(two_nodes, tmp_path, monkeypatch):
    cluster, worker, _ = two_nodes
    monkeypatch.setattr(universe_mod, "XS_CHUNK_CELLS", 1)   # 2,048-date chunks: 2 universe tasks
    inputs = _inputs(2600)
    res = run_build(inputs, SET, str(tmp_path / "spread"), progress=False, timeout_s=600)
    assert {v["action"] for v in res.symbols.values()} == {"full"}
    assert {v["node_id"] for v in res.symbols.values()} == {cluster.head_node.node_id, worker.node_id}
    assert res.nodes_left_out == {}
    assert res.universe["action"] == "full" and res.universe["dates_computed"] == 2600
    # the driver's marker is gone once the build ends
    assert not list((tmp_path / "spread").glob(".build-*"))

    # the same two stages in this process, without Ray tasks
    one = tmp_path / "one"
    ranked = {}
    for inp in inputs:
        summary, ranked[inp.symbol] = build_symbol(inp, SET, str(one), {}, None)
        assert summary["version"] == res.symbols[inp.symbol]["version"]
    local = build_universe({i.symbol: i.bars for i in inputs}, ranked, str(one), "1h",
                           summary["version"], parallel=False)
    assert local["version"] == res.universe["version"]
    for version in (summary["version"], res.universe["version"]):
        spread, here = _stored(tmp_path / "spread", version), _stored(one, version)
        for s in SYMBOLS:
            pd.testing.assert_frame_equal(spread[s], here[s], check_exact=True)

    # a rerun reads what both nodes wrote: nothing is computed again
    again = run_build(inputs, SET, str(tmp_path / "spread"), progress=False, timeout_s=600)
    assert {v["action"] for v in again.symbols.values()} == {"reused"}
    assert again.universe["action"] == "reused"


def test_a_node_without_the_shared_store_refuses(tmp_path):
    inp = _inputs(300)[0]
    # the driver's marker is not in this node's folder of that name: another machine's disk
    with pytest.raises(DataError, match="not shared with this node"):
        build_symbol(inp, SET, str(tmp_path), {}, None, marker=".build-from-another-machine")
    assert not any(tmp_path.iterdir())   # nothing written


def test_the_store_probe_leaves_out_a_node_that_does_not_see_the_store(two_nodes, tmp_path):
    cluster, worker, _ = two_nodes
    (tmp_path / ".build-here").touch()
    seeing, left_out = store_nodes(str(tmp_path), ".build-here")
    assert sorted(seeing) == sorted([cluster.head_node.node_id, worker.node_id]) and left_out == {}
    # a marker no node has: every node is left out, with the reason, and placing refuses
    seeing, left_out = store_nodes(str(tmp_path), ".build-elsewhere")
    assert seeing == [] and len(left_out) == 2
    assert all("does not see the feature store" in why for why in left_out.values())
    with pytest.raises(DataError, match="no node of the cluster sees the feature store"):
        placements(seeing, 4, all_nodes=False)
    # the nodes that see it take the tasks in turn, pinned
    pinned = placements([worker.node_id], 3, all_nodes=False)
    assert [p["scheduling_strategy"].node_id for p in pinned] == [worker.node_id] * 3
    assert all(p["scheduling_strategy"].soft is False for p in pinned)
    assert placements([worker.node_id], 2, all_nodes=True) == [{"scheduling_strategy": "SPREAD"}] * 2
