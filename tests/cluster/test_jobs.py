"""A job submitted through the Jobs API runs to completion on the two-node cluster."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from ray.job_submission import JobStatus, JobSubmissionClient
from ray.util.state import list_tasks

from cluster.ready import wait_ready

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.dashboard
def test_demo_job_through_jobs_api(two_nodes, tmp_path):
    cluster, worker, port = two_nodes
    client = JobSubmissionClient(f"http://127.0.0.1:{port}")
    env = {
        "MERIDIAN__STORE__PATH": str(tmp_path / "lake"),
        "MERIDIAN__REPORT_DIR": str(tmp_path / "reports"),
        "MERIDIAN__WALKFORWARD__TRAIN_BARS": "200",
        "MERIDIAN__WALKFORWARD__TEST_BARS": "100",
        "MERIDIAN__MODELS__PARAMS": json.dumps({"xgboost": {"n_estimators": 30}}),
        "RAY_AUTH_MODE": "disabled",
    }
    # Both simulated nodes share this machine's /tmp/ray/session_*/runtime_resources, and the GPU
    # node's agent removes the unpacked working_dir once its tasks are done: the driver must not
    # sit in that folder (on two real machines each node has its own copy).
    submit = dict(
        entrypoint=f"cd {tmp_path} && {sys.executable} -m pipelines.jobs.demo --symbols GOOG --max-bars 500 --json",
        runtime_env={"working_dir": str(REPO), "env_vars": env,
                     "excludes": ["data/", ".venv/", "reports/", ".git/", "*.parquet"]},
    )
    # the head's job agent comes up after the dashboard: wait until every node's agent answers
    # its own health endpoint, then until the job itself says it has ended
    wait_ready(f"http://127.0.0.1:{port}", nodes=2, timeout=180)   # a bound for a node that never comes up
    job_id = client.submit_job(**submit)
    status = client.get_job_status(job_id)
    seen: dict[str, set[str]] = {}   # feature and fold task name -> states seen through the state API while the job runs
    while not status.is_terminal():
        time.sleep(1)
        for t in list_tasks(address=f"http://127.0.0.1:{port}", filters=[("type", "=", "NORMAL_TASK")],
                            limit=1000, raise_on_missing_output=False):
            if t.name.startswith(("walkforward GOOG ", "features GOOG ")):
                seen.setdefault(t.name, set()).add(str(t.state))
        status = client.get_job_status(job_id)
    logs = client.get_job_logs(job_id)
    assert status == JobStatus.SUCCEEDED, logs[-3000:]
    out = json.loads([line for line in logs.splitlines() if line.startswith("{")][-1])
    assert Path(out["report"]).exists()
    assert out["summary"][0]["symbol"] == "GOOG" and out["summary"][0]["test bars"] >= 200
    # the dashboard showed which symbol's features were built, and which model and fold ran,
    # while the job ran
    assert any(n.startswith("features GOOG ") for n in seen), seen
    assert any(n.startswith("walkforward GOOG xgboost fold 1/") for n in seen), seen
    assert any(states & {"RUNNING", "FINISHED", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER"}
               for states in seen.values()), seen
