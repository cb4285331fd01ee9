"""The cluster path as a user takes it, with the real commands: cluster/start-head, a second node
joined on loopback with cluster/join-worker declaring a GPU, `ray job submit` of the README's
demo line, `serve deploy serving/serve-config.yaml`, `serve status`, and cluster/stop-head.

Every port is free-chosen, every Ray file lives in this test's own temp dirs, and the nodes are
stopped by the pids the scripts recorded, so other Rays on the machine are never touched. Waits
are on Ray's readiness (agent health, job status, Serve status), not fixed pauses."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("MERIDIAN_VENV", REPO / ".venv")) / "bin"
RAY, SERVE, PY = VENV_BIN / "ray", VENV_BIN / "serve", VENV_BIN / "python"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not RAY.exists(), reason=f"{RAY} missing: the scripts use the checkout's .venv")]


def _user_env(**extra: str) -> dict[str, str]:
    """A submitting shell as a user has it: no Meridian venv on PATH, no MERIDIAN_HOME."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MERIDIAN_HOME", "MERIDIAN_CONFIG", "PYTHONPATH", "RAY_ADDRESS", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(VENV_BIN.parent)) and "/.venv/" not in p + "/")
    env["RAY_AUTH_MODE"] = "disabled"
    env.update(extra)
    return env


def _sh(*argv, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=REPO, env=env or _user_env(), text=True,
                          capture_output=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _processes_mentioning(text: str) -> list[str]:
    ps = subprocess.run(["ps", "-A", "-ww", "-o", "pid=", "-o", "args="], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if text in line and "pytest" not in line]


@pytest.fixture(scope="module")
def cli_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    home = root / "home"
    head_tmp, worker_tmp = root / "head", root / "worker"
    port, dash = free_port(), free_port()
    env = _user_env(MERIDIAN_HOME=str(home), MERIDIAN_DIRECT_PORT=str(free_port()))
    t0 = time.monotonic()
    _ok(_sh(REPO / "cluster/start-head", "--port", port, "--dashboard-port", dash, "--temp-dir", head_tmp,
            "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-bytes", 150_000_000,
            "--", f"--dashboard-agent-listen-port={free_port()}", f"--ray-client-server-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}", env=env))
    head_s = time.monotonic() - t0
    _ok(_sh(REPO / "cluster/join-worker", f"127.0.0.1:{port}", "--num-gpus", "1", "--dashboard-port", dash,
            "--temp-dir", worker_tmp, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
            "--", f"--dashboard-agent-listen-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}", "--object-store-memory=100000000", env=env))
    info = {"gcs": f"127.0.0.1:{port}", "url": f"http://127.0.0.1:{dash}", "home": home,
            "head_tmp": head_tmp, "worker_tmp": worker_tmp, "head_s": head_s}
    try:
        yield info
    finally:
        _ok(_sh(REPO / "cluster/stop-worker", "--temp-dir", worker_tmp))
        _ok(_sh(REPO / "cluster/stop-head", "--temp-dir", head_tmp))
        # nothing of either node outlives stop-head; the pid files are gone
        assert not (head_tmp / "meridian-head.pid").exists()
        assert _processes_mentioning(str(head_tmp)) == [] and _processes_mentioning(str(worker_tmp)) == []


def _get_json(url: str, timeout: float = 30.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def test_worker_joins_with_a_gpu(cli_cluster):
    from cluster.ready import alive_nodes
    nodes = alive_nodes(cli_cluster["url"])
    assert len(nodes) == 2
    head = next(n for n in nodes if n["isHeadNode"])
    worker = next(n for n in nodes if not n["isHeadNode"])
    assert head["resourcesTotal"].get("head") == 1 and "GPU" not in head["resourcesTotal"]
    assert worker["resourcesTotal"]["GPU"] == 1
    assert os.path.realpath(worker["tempDir"]) == os.path.realpath(cli_cluster["worker_tmp"])


@pytest.fixture(scope="module")
def demo_job(cli_cluster):
    """The README's demo line, verbatim but for the symbol, submitted from a user's shell."""
    out = _ok(_sh(RAY, "job", "submit", "--address", cli_cluster["url"], "--working-dir", ".", "--",
                  "python", "-m", "pipelines.jobs.demo", "--symbols", "GOOG", "--json"))
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def test_readme_demo_job_runs_in_meridians_environment(cli_cluster, demo_job):
    """`python` in the entrypoint is the head's venv python, and the job writes under the head's
    Meridian home, where a local command sees the run."""
    report = Path(demo_job["report"])
    assert report.exists() and report.is_relative_to(cli_cluster["home"])
    local = _ok(_sh(PY, "-m", "pipelines.cli", "models", "list", "--json",
                    env=_user_env(MERIDIAN_HOME=str(cli_cluster["home"]), PYTHONPATH=str(REPO))))
    assert any(m["symbols"] == ["GOOG"] and m["name"] == "xgboost" for m in json.loads(local))


def test_serve_deploy_answers_health_and_a_prediction(cli_cluster, demo_job):
    """`serve start` picks the proxy's port (the config's 8000 applies only when Serve starts
    there), then the repository's config deploys as it is."""
    http = free_port()
    _ok(_sh(SERVE, "start", "--address", cli_cluster["gcs"], "--http-host", "127.0.0.1", "--http-port", http))
    _ok(_sh(SERVE, "deploy", "serving/serve-config.yaml", "-a", cli_cluster["url"]))
    while True:  # Serve's own status says when the app is up (or has failed)
        status = _ok(_sh(SERVE, "status", "-a", cli_cluster["url"]))
        if "status: RUNNING" in status or "DEPLOY_FAILED" in status:
            break
        time.sleep(1)
    assert "status: RUNNING" in status and "UNHEALTHY" not in status, status
    health = _get_json(f"http://127.0.0.1:{http}/health")
    assert health["status"] == "ok"
    assert health["models_loaded"] >= 1
    pred = _get_json(f"http://127.0.0.1:{http}/predictions/GOOG")
    assert pred["symbol"] == "GOOG" and pred["horizons"][0]["models"][0]["name"] == "xgboost"
    _ok(_sh(SERVE, "shutdown", "-y", "-a", cli_cluster["url"]))


def test_local_ray_never_joins_a_running_ray(cli_cluster):
    """With a head's address file in reach (its temp dir), `init_ray` without an address starts a
    new local Ray of its own instead of joining that head (where num_cpus would be refused)."""
    code = ("import json, ray\nfrom cluster.runtime import init_ray\nfrom pipelines.config import RayConfig\n"
            f"res = init_ray(RayConfig(num_cpus=1, temp_dir={str(cli_cluster['head_tmp'])!r}))\n"
            "print(json.dumps({'gcs': ray.get_runtime_context().gcs_address, 'res': res}))\nray.shutdown()\n")
    head_port = cli_cluster["gcs"].rsplit(":", 1)[1]
    assert (cli_cluster["head_tmp"] / "ray_current_cluster").read_text().strip().endswith(":" + head_port)
    out = json.loads(_ok(_sh(PY, "-c", code, env=_user_env(PYTHONPATH=str(REPO)))).strip().splitlines()[-1])
    assert out["gcs"].rsplit(":", 1)[1] != head_port
    assert out["res"]["CPU"] == 1 and "head" not in out["res"] and "GPU" not in out["res"]


def test_meridian_submit_runs_a_job_on_the_recorded_head(cli_cluster, demo_job):
    """`meridian submit` finds the head cluster/start-head recorded (no address given, none in the
    environment), runs the job in the head's environment, follows it to the end and exits with its
    status; the run it recorded (on the demo job's GOOG bars) is visible to a local command."""
    from ray.job_submission import JobSubmissionClient
    env = _user_env(PYTHONPATH=str(REPO))
    proc = _sh(PY, "-m", "pipelines.cli", "submit", "--temp-dir", cli_cluster["head_tmp"], "--wait", "--json",
               "walkforward", "--symbols", "GOOG", "--models", "logistic", "--train-bars", "300",
               "--test-bars", "100", "--ensembles", "", "--json", env=env)
    out = json.loads(_ok(proc).strip().splitlines()[0])
    assert out["address"] == cli_cluster["url"]
    assert out["dashboard_url"] == f"{cli_cluster['url']}/#/jobs/{out['job_id']}"
    client = JobSubmissionClient(cli_cluster["url"])
    assert client.get_job_status(out["job_id"]).value == "SUCCEEDED"
    job_out = json.loads([line for line in client.get_job_logs(out["job_id"]).splitlines()
                          if line.startswith("{")][-1])
    runs = json.loads(_ok(_sh(PY, "-m", "pipelines.cli", "runs", "list", "--json",
                              env=_user_env(MERIDIAN_HOME=str(cli_cluster["home"]), PYTHONPATH=str(REPO)))))
    mine = [r for r in runs if r["run_id"] == job_out["run_id"]]
    assert mine and mine[0]["status"] == "done" and mine[0]["models"] == ["logistic"], runs
    # a job that fails (the rl job without its required --agent) makes `submit --wait` fail too
    failed = _sh(PY, "-m", "pipelines.cli", "submit", "--address", cli_cluster["url"], "--wait", "rl", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED" in failed.stderr and "--agent" in failed.stdout
