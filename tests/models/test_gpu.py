"""On a machine with a CUDA GPU, the walk-forward places XGBoost folds on it and they train there."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.gpu


def test_xgboost_folds_train_on_the_gpu(tmp_path):
    if not os.path.exists("/dev/nvidiactl"):
        pytest.skip("no NVIDIA driver on this machine")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    import ray

    from models.training.dataset import make_dataset
    from models.training.walkforward import run_walkforward
    from pipelines.config import WalkForwardConfig
    from pipelines.features.catalog import feature_set
    from tests.synthetic.markets import ar1

    sim = ar1(2500, phi=0.3, seed=3)
    ds = make_dataset(sim.bars, feature_set("core"), 1)
    wf = WalkForwardConfig(horizon=1, train_bars=1000, test_bars=500)
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, object_store_memory=200_000_000)
    try:
        if ray.cluster_resources().get("GPU", 0) < 1:
            pytest.skip("the running Ray has no GPU resource")
        res = run_walkforward(ds, "xgboost", wf, {"n_estimators": 50}, use_gpu=True, timeout=300)
        cpu = run_walkforward(ds, "xgboost", wf, {"n_estimators": 50, "device": "cpu"}, use_ray=False)
    finally:
        if started:
            ray.shutdown()
    booster_cfg = res.final_model.reg_.get_booster().save_config()
    assert '"device":"cuda' in booster_cfg.replace(" ", "")
    acc = lambda p: ((p["expected_return"] > 0) == (p["realized_return"] > 0)).mean()  # noqa: E731
    assert abs(acc(res.predictions) - acc(cpu.predictions)) < 0.03
