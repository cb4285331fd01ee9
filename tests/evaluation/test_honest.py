"""Honest evaluation: on a random walk the whole pipeline (features, every tabular model, the
regime switch and every ensemble) shows no edge; the same check does flag a leaky feature; on
planted-signal data the pipeline recovers most of the best achievable accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from models.zoo import all_models, model_class
from pipelines.config import WalkForwardConfig
from pipelines.errors import ModelError
from pipelines.evaluation.significance import edge_test
from pipelines.jobs.train import evaluate_symbol
from tests.synthetic.markets import ar1, random_walk, regime_switching

WF = WalkForwardConfig(horizon=1, train_bars=1000, test_bars=500, validation_fraction=0.2)
SMALL = {m: {"n_estimators": 60} for m in ("xgboost", "lightgbm", "catboost", "random_forest")}


def every_tabular_model() -> list[str]:
    out = []
    for name in all_models():
        try:
            if model_class(name).consumes == "tabular":
                out.append(name)
        except ModelError:      # an optional extra that is not installed
            continue
    return out


def _edges(run) -> dict:
    n = len(run.predictions)
    return {name: edge_test(p["expected_return"], p["realized_return"], run.dataset.horizon, n_tests=n)
            for name, p in run.predictions.items()}


@pytest.fixture(scope="module")
def random_walk_run():
    sim = random_walk(3000, seed=1)
    # regimes as a feature and fold-local feature selection are part of the pipeline under test
    params = {**SMALL, "logistic": {"regimes": True, "select_k": 8},
              "random_forest": {"n_estimators": 60, "regimes": True}}
    return evaluate_symbol(sim.bars, every_tabular_model(), WF, params=params, use_ray=False)


@pytest.mark.slow
def test_random_walk_shows_no_edge(random_walk_run):
    run = random_walk_run
    models = every_tabular_model()
    assert {"xgboost", "lightgbm", "random_forest", "logistic", "svm", "regime_switch"} <= set(models)
    assert {f"ensemble_{e}" for e in ("average", "weighted", "stacking", "bma")} <= set(run.predictions)
    edges = _edges(run)
    for name, e in edges.items():
        assert e.n > 1500
        # accuracy against the always-majority predictor, Bonferroni over every candidate
        assert not e.has_edge, f"{name}: accuracy {e.accuracy:.3f} vs majority {e.majority_rate:.3f} " \
                               f"(p={e.p_value:.2g}) on a random walk"
    # the reported metrics say the same: deflated Sharpe well below any confidence level
    for name, m in run.metrics.items():
        assert m["edge_test"]["has_edge"] is False, name
        assert m["strategy_dsr"] < 0.95, name


def test_leaky_feature_is_flagged_by_the_same_check():
    """A feature that peeks one bar ahead (a noisy copy of the label) must be detected."""
    sim = random_walk(3000, seed=1)
    from models.training.dataset import make_dataset
    from pipelines.features.catalog import feature_set
    ds = make_dataset(sim.bars, feature_set("core"), 1)
    rng = np.random.default_rng(0)
    ds.X = ds.X.assign(leak=ds.y.to_numpy() + rng.normal(0, 3 * ds.y.std(), len(ds.y)))
    run = evaluate_symbol(sim.bars, ["logistic", "lightgbm"], WF, params=SMALL, use_ray=False,
                          dataset=ds, ensembles=("average",))
    edges = _edges(run)
    for name, e in edges.items():
        assert e.has_edge and e.excess_accuracy > 0, f"{name}: the leak went unnoticed ({e})"
        assert e.accuracy < 0.7     # a modest leak, not a copy of the answer


def test_planted_ar1_signal_is_recovered():
    sim = ar1(3000, phi=0.3, seed=2)
    edge_best = sim.best_accuracy - 0.5            # 0.5 + arcsin(0.3) / pi = 0.597
    assert edge_best == pytest.approx(0.097, abs=1e-3)
    models = ["xgboost", "lightgbm", "random_forest", "logistic", "svm"]
    run = evaluate_symbol(sim.bars, models, WF, params=SMALL, use_ray=False)
    edges = _edges(run)
    for name in models:
        e = edges[name]
        assert e.has_edge, name
        assert e.accuracy - 0.5 >= 0.5 * edge_best, f"{name}: {e.accuracy:.3f} of best {sim.best_accuracy:.3f}"
    best = max(e.accuracy for e in edges.values())
    assert best - 0.5 >= 0.8 * edge_best
    for ens in ("average", "weighted", "stacking", "bma"):
        assert edges[f"ensemble_{ens}"].accuracy - 0.5 >= 0.7 * edge_best, ens
    # confidence means something: the most confident quarter is right more often than the least
    for name in ("logistic", "ensemble_average"):
        buckets = run.metrics[name]["hit_rate_by_confidence"]
        assert len(buckets) == 4
        assert buckets[-1]["hit_rate"] > buckets[0]["hit_rate"] + 0.05, (name, buckets)
    # next to the baselines: naive momentum is the right rule here, buy-and-hold is not
    assert run.baselines["momentum"]["directional_accuracy"] > 0.55
    assert abs(run.baselines["buy_and_hold"]["directional_accuracy"] - 0.5) < 0.05


@pytest.mark.slow
def test_regime_switching_signal_is_found():
    sim = regime_switching(3000, seed=3)
    edge_best = sim.best_accuracy - 0.5            # Bayes-optimal filter with the true parameters
    assert 0.05 < edge_best < 0.2
    run = evaluate_symbol(sim.bars, ["lightgbm", "regime_switch"], WF,
                          params=SMALL, use_ray=False, ensembles=("weighted",))
    edges = _edges(run)
    best = max(edges.values(), key=lambda e: e.accuracy)
    assert best.has_edge
    assert best.accuracy - 0.5 >= 0.3 * edge_best
    assert max(e.accuracy for e in edges.values()) <= sim.best_accuracy + 0.03  # nobody beats Bayes


def test_random_walk_multi_bar_horizon_shows_no_edge():
    """Overlapping 10-bar labels: the purge keeps every training label out of the test window,
    and the edge test's Newey-West error allows for the overlap (lags = horizon)."""
    sim = random_walk(3000, seed=5)
    wf = WalkForwardConfig(horizon=10, train_bars=1000, test_bars=500, embargo_bars=5,
                           validation_fraction=0.2)
    run = evaluate_symbol(sim.bars, ["logistic", "lightgbm"], wf, params=SMALL, use_ray=False,
                          ensembles=("average", "stacking"))
    for name, e in _edges(run).items():
        assert e.n > 1800 and e.lags == 10
        assert not e.has_edge, f"{name}: {e}"
