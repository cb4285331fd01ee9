"""Training status from Ray's state API (what the dashboard shows): a walk-forward fold of a
sequence model, running as a Ray task on a Ray with its dashboard, is listed as running
training work. Runs in a child process because the session's test Ray has no dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import json, os, time
    import ray
    ray.init(address="local", num_cpus=1, include_dashboard=True, dashboard_port=0,
             object_store_memory=100_000_000, log_to_driver=False)
    from cluster.placement import training_options
    from models.training.dataset import make_dataset
    from models.training.walkforward import fit_fold
    from models.tuning.status import live_training
    from models.training.splits import walk_forward_splits
    from pipelines.features.catalog import feature_set
    from pipelines.sources.sample import sample_bars
    bars, _ = sample_bars("SPX", 600)
    ds = make_dataset(bars, feature_set("core"), horizon=1)
    fold = walk_forward_splits(len(ds), horizon=1, train_bars=400, test_bars=100)[0]
    params = {"hidden": 8, "window": 8, "max_epochs": 200, "patience": 200}
    ref = ray.remote(fit_fold).options(**training_options(True)).remote("gru", params, ds.X, ds.y, fold)
    seen, deadline = None, time.monotonic() + 120
    while time.monotonic() < deadline and seen is None:
        st = live_training(timeout=10)
        if st["available"] and any(t["name"] == "fit_fold" for t in st["tasks"]):
            seen = st
        time.sleep(0.5)
    ray.cancel(ref, force=True)
    print("STATUS " + json.dumps(seen))
    ray.shutdown()
''')


@pytest.mark.slow
def test_running_training_tasks_are_listed(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=240)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("STATUS ")]
    assert out.returncode == 0 and line, out.stderr[-3000:]
    status = json.loads(line[0][len("STATUS "):])
    assert status is not None, "the running fold never showed up in the state API"
    assert status["available"] and status["error"] is None
    task = next(t for t in status["tasks"] if t["name"] == "fit_fold")
    assert task["state"] == "RUNNING" and task["required_resources"].get("CPU") == 1.0
    assert "GPU" not in task["required_resources"]          # no GPU in this cluster: CPU only
