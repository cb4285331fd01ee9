"""The local Ray that init_ray starts listens on 127.0.0.1 only and on no fixed default port, so
it neither opens the machine to the network nor collides with another Ray on it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Ray's fixed defaults: the dashboard agent's HTTP port, the autoscaler's and the dashboard's metrics
DEFAULT_PORTS = {52365, 44217, 44227}

DRIVER = '''
import json, os, re, subprocess, sys
import ray
from cluster.runtime import init_ray, shutdown_ray
from pipelines.config import RayConfig

init_ray(RayConfig(num_cpus=1, object_store_memory=100_000_000, temp_dir=sys.argv[1],
                   include_dashboard=sys.argv[2] == "dashboard"))

@ray.remote(runtime_env={"env_vars": {"PLANTED": "1"}})   # needs the node's runtime env agent
def work():
    return os.environ["PLANTED"]

ran = ray.get(work.remote(), timeout=120)
children = {}
for line in subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout.splitlines():
    pid, ppid = map(int, line.split())
    children.setdefault(ppid, []).append(pid)
tree, todo = set(), [os.getpid()]
while todo:
    pid = todo.pop()
    tree.add(pid)
    todo += children.get(pid, [])
listening = []
for line in subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines():
    found = re.search(r'users:\\(\\("([^"]+)",pid=(\\d+)', line)
    if found and int(found.group(2)) in tree:
        host, port = line.split()[3].rsplit(":", 1)
        listening.append({"process": found.group(1), "host": host, "port": int(port)})
node = ray._private.worker._global_node
joined = subprocess.run([sys.executable, "-c", "import ray\\nfrom cluster.runtime import join_ray\\n"
                         f"join_ray({ray.get_runtime_context().gcs_address!r}, log_to_driver=False)\\n"
                         "print(ray.get(ray.remote(lambda: 'joined').remote(), timeout=60))"],
                        capture_output=True, text=True, timeout=120)
out = {"ran": ran, "listening": listening, "node_ip": node.node_ip_address,
       "agent_port": node.dashboard_agent_listen_port, "dashboard_url": node.webui_url,
       "nodes_alive": [n["Alive"] for n in ray.nodes()],
       "joined": joined.stdout.strip().splitlines()[-1:] or [joined.stderr[-1000:]], "cluster_env": os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
shutdown_ray()
print(json.dumps(out))
'''


def _hold(port: int) -> socket.socket | None:
    """Listen on 127.0.0.1:``port`` as another Ray would (None when something already does)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
        return s
    except OSError:
        s.close()
        return None


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to list listening sockets")
@pytest.mark.parametrize("dashboard", ["dashboard", "no-dashboard"])
def test_a_local_ray_listens_on_loopback_only_and_on_free_ports(tmp_path, dashboard):
    """With Ray's default ports held by someone else, init_ray's local Ray starts, runs a task
    with a runtime env (its agents are up), and every socket its processes listen on (GCS,
    raylet, workers, agents, metrics, dashboard) is on 127.0.0.1, none on a fixed default port;
    the driver's environment is as it was, and another process joins it with join_ray."""
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    held = [s for s in map(_hold, DEFAULT_PORTS) if s is not None]
    temp_dir = tempfile.mkdtemp(prefix="mr-", dir="/tmp")   # Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MERIDIAN", "RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"))
           and k not in ("AUTOSCALER_METRIC_PORT", "DASHBOARD_METRIC_PORT")}
    env.update({"PYTHONPATH": str(ROOT), "MERIDIAN_HOME": str(tmp_path / "home"), "RAY_AUTH_MODE": "disabled"})
    try:
        proc = subprocess.run([sys.executable, str(script), temp_dir, dashboard], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=240)
    finally:
        for s in held:
            s.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ran"] == "1" and out["nodes_alive"] == [True]
    assert out["joined"] == ["joined"], out["joined"]   # another process reaches it (join_ray)
    assert out["node_ip"] == "127.0.0.1" and out["cluster_env"] is None
    listening = out["listening"]
    processes = {s["process"] for s in listening}
    assert {"gcs_server", "raylet"} <= processes, listening
    assert out["agent_port"] not in DEFAULT_PORTS and out["agent_port"] in {s["port"] for s in listening}
    if dashboard == "dashboard":   # the dashboard's own HTTP port is among them
        assert out["dashboard_url"].startswith("127.0.0.1:"), out["dashboard_url"]
        assert int(out["dashboard_url"].rsplit(":", 1)[1]) in {s["port"] for s in listening}
    open_to_all = [s for s in listening if s["host"] not in ("127.0.0.1", "[::ffff:127.0.0.1]", "[::1]")]
    assert not open_to_all, f"listening beyond loopback: {open_to_all}"
    on_defaults = [s for s in listening if s["port"] in DEFAULT_PORTS]
    assert not on_defaults, f"on Ray's fixed default ports: {on_defaults}"
