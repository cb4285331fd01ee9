"""Graph forecaster on panel rows (ts, symbol): a late listing and a gap keep every date and row,
absent symbols are masked nodes, the correlation graph comes from training rows only, a planted
cross-sectional factor is recovered out of sample, save / load through the zoo."""

import numpy as np
import pandas as pd
import pytest
import torch

from models import zoo
from models.base import NotFittedError
from models.graph.gnn import GraphForecaster, correlation_graph, propagate
from pipelines.errors import ModelError
from pipelines.evaluation.signal import analyse

torch.set_num_threads(1)
CLUSTERS = {"A": ["A0", "A1", "A2", "A3", "LATE"], "B": ["B0", "B1", "B2", "B3", "GAP"]}
SYMS = sorted(s for c in CLUSTERS.values() for s in c)
N_DATES, FIT_END, LATE_FROM, GAP = 400, 300, 280, (100, 160)
SMALL = {"min_overlap": 60, "epochs": 150, "seed": 0}


def synthetic_panel(n: int = N_DATES, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Two clusters of five symbols. Each symbol's next return is the mean feature ``f`` of the
    other members of its cluster (a factor that only the graph carries: a node's own ``f`` says
    nothing of its return) plus a cluster shock (which makes the cluster correlated) plus noise;
    ``g`` is noise. LATE lists at date 280 (20 training dates: too few
    for an edge), GAP has no rows on dates 100-159. Rows: (ts, symbol), sorted like make_panel."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-01-03", periods=n, freq="D", tz="UTC")
    f = pd.DataFrame(rng.normal(size=(n, len(SYMS))), index=dates, columns=SYMS)
    y = pd.DataFrame(index=dates, columns=SYMS, dtype="float64")
    for members in CLUSTERS.values():
        shock = rng.normal(size=n)
        others = (f[members].sum(axis=1).to_numpy()[:, None] - f[members].to_numpy()) / (len(members) - 1)
        y[members] = 0.01 * (others + 0.5 * shock[:, None] + 0.4 * rng.normal(size=(n, len(members))))
    present = pd.DataFrame(True, index=dates, columns=SYMS)
    present.iloc[:LATE_FROM, SYMS.index("LATE")] = False
    present.iloc[GAP[0]:GAP[1], SYMS.index("GAP")] = False
    long = present.stack()
    rows = long[long].index.set_names(["ts", "symbol"])
    X = pd.DataFrame({"f": f.stack().reindex(rows).to_numpy(),
                      "g": rng.normal(size=len(rows))}, index=rows).sort_index()
    return X, y.stack().reindex(X.index).rename("fwd_1")


def _dates(X: pd.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(X.index.get_level_values("ts").unique())


def _split(X, y, start, end):
    d = _dates(X)
    keep = X.index.get_level_values("ts").isin(d[start:end])
    return X[keep], y[keep]


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_panel()
    Xf, yf = _split(X, y, 0, FIT_END)
    return GraphForecaster(**SMALL).fit(Xf, yf), X, y


def test_masked_nodes_neither_send_nor_receive_and_leave_the_normalisation():
    adj = torch.ones(3, 3)
    h = torch.tensor([[[1.0], [2.0], [100.0]]])                 # (T=1, N=3, H=1)
    out = propagate(adj, torch.tensor([[1.0, 1.0, 0.0]]), h)
    # the two present nodes average each other (degree 2, not 3); the absent one is silent
    torch.testing.assert_close(out, torch.tensor([[[1.5], [1.5], [0.0]]]))
    full = propagate(adj, torch.ones(1, 3), h)
    torch.testing.assert_close(full, torch.full((1, 3, 1), 103.0 / 3))


def test_graph_pairs_over_overlapping_dates_only():
    X, y = synthetic_panel()
    _, yf = _split(X, y, 0, FIT_END)
    wide = yf.unstack("symbol")[SYMS]
    adj = correlation_graph(wide, min_overlap=60, threshold=0.3)
    i = {s: k for k, s in enumerate(SYMS)}
    assert adj[i["A0"], i["A1"]] > 0.3 and adj[i["B0"], i["GAP"]] > 0.3     # a gap keeps its edges
    assert adj[i["A0"], i["B0"]] == 0                                      # across clusters: none
    assert (np.delete(adj[i["LATE"]], i["LATE"]) == 0).all()              # 20 shared dates < 60
    np.testing.assert_allclose(np.diag(adj), 1.0)
    np.testing.assert_allclose(adj, adj.T)


def test_trains_on_every_row_and_date(fitted):
    m, X, y = fitted
    Xf, _ = _split(X, y, 0, FIT_END)
    assert m.n_dates_ == FIT_END                                  # no date dropped for LATE or GAP
    assert m.n_rows_ == len(Xf) == FIT_END * len(SYMS) - LATE_FROM - (GAP[1] - GAP[0])
    assert m.symbols_ == SYMS


def test_predicts_every_present_test_row_and_recovers_the_factor(fitted):
    m, X, y = fitted
    Xt, yt = _split(X, y, FIT_END, None)
    pred = m.predict(Xt)
    assert pred.index.equals(Xt.index) and list(pred.columns) == ["expected_return", "prob_up", "confidence"]
    assert pred.notna().all().all() and pred["prob_up"].between(0, 1).all()
    s = analyse(pred["expected_return"], yt, 1).summary()
    assert s["days"] == N_DATES - FIT_END and s["names"] == len(SYMS)
    # the best achievable: the true mean of the present neighbours' features
    f = Xt["f"].unstack("symbol")
    oracle = pd.concat([(f[m].sum(axis=1).to_numpy()[:, None] - f[m]) / (f[m].notna().sum(axis=1).to_numpy()[:, None] - 1)
                        for m in CLUSTERS.values()], axis=1).stack().reindex(Xt.index)
    best = analyse(oracle, yt, 1).summary()["rank_ic_mean"]
    assert s["rank_ic_mean"] > 0.6 * best and s["rank_ic_nw_t"] > 5, (s["rank_ic_mean"], best)
    # the factor lives in the neighbours' features: a node's own feature ranks the wrong way
    own = analyse(Xt["f"], yt, 1).summary()["rank_ic_mean"]
    assert own < 0 and s["rank_ic_mean"] > own + 0.25, (s["rank_ic_mean"], own)


def test_absent_symbols_are_masked_and_unseen_ones_have_no_edges(fitted):
    m, X, y = fitted
    Xt, _ = _split(X, y, FIT_END, FIT_END + 5)
    base = m.predict(Xt)
    # a present neighbour sends messages: dropping A0 changes A1, not the other cluster
    drop = m.predict(Xt.drop(index="A0", level="symbol"))
    assert not np.allclose(drop.xs("A1", level="symbol"), base.xs("A1", level="symbol"))
    np.testing.assert_allclose(drop.xs("B1", level="symbol"), base.xs("B1", level="symbol"), rtol=1e-6)
    # an unseen symbol: predicted (self loop only), and nobody else moves
    new = Xt.xs("A1", level="symbol", drop_level=False).rename(index={"A1": "NEW"}, level="symbol")
    both = m.predict(pd.concat([Xt, new]).sort_index())
    np.testing.assert_allclose(both.drop(index="NEW", level="symbol").to_numpy(), base.to_numpy(), rtol=1e-6)
    alone = m.predict(new)
    np.testing.assert_allclose(both.xs("NEW", level="symbol").to_numpy(),
                               alone.xs("NEW", level="symbol").to_numpy(), rtol=1e-6)


def test_graph_depends_on_training_rows_only_and_dates_are_causal(fitted):
    m1, X, y = fitted
    X2, y2 = X.copy(), y.copy()
    late = X2.index.get_level_values("ts") >= _dates(X)[FIT_END]
    y2[late] = 0.05
    X2.loc[X2.index.get_level_values("ts") >= _dates(X)[350], "f"] = 99.0
    m2 = GraphForecaster(**SMALL).fit(*_split(X2, y2, 0, FIT_END))
    np.testing.assert_array_equal(m1.adj_, m2.adj_)
    a, b = m1.predict(X[late]), m1.predict(X2[late])
    before = a.index.get_level_values("ts") < _dates(X)[350]
    pd.testing.assert_frame_equal(a[before], b[before])
    assert not a[~before].equals(b[~before])


def test_save_load_round_trip_through_the_zoo(fitted, tmp_path):
    m, X, y = fitted
    Xt, _ = _split(X, y, FIT_END, None)
    path = m.save(tmp_path / "gnn")
    assert zoo.create("gnn", SMALL).consumes == "panel"
    back = zoo.model_class("gnn").load(path, expected_features=["f", "g"])
    pd.testing.assert_frame_equal(m.predict(Xt), back.predict(Xt))
    pd.testing.assert_frame_equal(m.predict(Xt), zoo.load(path, expected_features=["f", "g"]).predict(Xt))
    with pytest.raises(ModelError, match="trained on feature set"):
        zoo.model_class("gnn").load(path, expected_features=["f", "h"])


def test_bad_input_is_refused(fitted):
    m, X, y = fitted
    with pytest.raises(NotFittedError):
        GraphForecaster().predict(X)
    with pytest.raises(ModelError, match="unknown parameters"):
        GraphForecaster(layers=3)
    one = X.xs("A0", level="symbol")
    with pytest.raises(ModelError, match="panel model"):
        GraphForecaster(epochs=2).fit(one, y.xs("A0", level="symbol"))
    with pytest.raises(ModelError, match="same \\(ts, symbol\\) rows"):
        GraphForecaster(epochs=2).fit(X, y.iloc[::-1])
    with pytest.raises(ModelError, match="features differ"):
        m.predict(X.rename(columns={"g": "h"}))
    with pytest.raises(ModelError, match="infinite"):
        m.predict(X.assign(g=np.inf))
