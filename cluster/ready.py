"""Wait until a Ray head started by the CLI takes work: its GCS answers, the expected number of
nodes is alive and every alive node's dashboard agent (which runs submitted jobs and runtime
environments) answers its own health endpoint. Readiness is asked of Ray, never guessed from a
fixed pause, so a slow machine only waits longer.

    python -m cluster.ready http://127.0.0.1:8265 [--nodes 2] [--timeout 600] [--pid PID] [--temp-dir DIR]

``--pid`` names the ``ray start`` process being waited on: when it exits first, waiting stops at
once with an error instead of running into the timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

POLL_S = 0.5


class NotReady(RuntimeError):
    pass


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def alive_nodes(dashboard_url: str) -> list[dict]:
    """The dashboard's summary of the alive nodes (raylet info: ``nodeManagerAddress``,
    ``dashboardAgentListenPort``, ``isHeadNode``, ``resourcesTotal``...)."""
    status, body = _get(f"{dashboard_url}/nodes?view=summary")
    if status != 200:
        raise NotReady(f"/nodes answered {status}")
    summary = json.loads(body)["data"]["summary"]
    return [n["raylet"] for n in summary if n.get("raylet", {}).get("state") == "ALIVE"]


def agent_healthy(node: dict) -> bool:
    port = node.get("dashboardAgentListenPort")
    if not port:
        return False
    try:
        status, _ = _get(f"http://{node['nodeManagerAddress']}:{port}/api/healthz")
    except (urllib.error.URLError, OSError):
        return False
    return status == 200


def check(dashboard_url: str, nodes: int = 1, temp_dir: str | None = None) -> str | None:
    """None when the cluster is ready, else what it is still waiting for. With ``temp_dir``, only
    the node started with that ``--temp-dir`` counts (a worker waiting for itself)."""
    try:
        status, _ = _get(f"{dashboard_url}/api/gcs_healthz")
        if status != 200:
            return f"GCS health answered {status}"
        alive = alive_nodes(dashboard_url)
    except (urllib.error.URLError, OSError, NotReady, ValueError, KeyError) as exc:
        return f"dashboard at {dashboard_url} not answering yet ({exc})"
    if temp_dir is not None:
        want = os.path.realpath(temp_dir)
        alive = [n for n in alive if os.path.realpath(n.get("tempDir") or "") == want]
    if len(alive) < nodes:
        return f"{len(alive)} of {nodes} nodes alive"
    sick = [n["nodeManagerAddress"] for n in alive if not agent_healthy(n)]
    if sick:
        return f"dashboard agent not healthy yet on {', '.join(sick)}"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_ready(dashboard_url: str, nodes: int = 1, timeout: float = 600.0, pid: int | None = None,
               temp_dir: str | None = None) -> None:
    """Block until ``check`` says ready; raise ``NotReady`` with the last reason when ``pid``
    (the ``ray start`` process) exits or after ``timeout`` seconds, a bound for a cluster that
    never comes up, not a guess at how long starting takes."""
    dashboard_url = dashboard_url.rstrip("/")
    start = time.monotonic()
    while True:
        reason = check(dashboard_url, nodes, temp_dir)
        if reason is None:
            return
        if pid is not None and not _pid_alive(pid):
            raise NotReady(f"the ray process {pid} exited; last state: {reason}")
        if time.monotonic() - start > timeout:
            raise NotReady(f"not ready after {timeout:.0f} s: {reason}")
        time.sleep(POLL_S)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dashboard_url")
    p.add_argument("--nodes", type=int, default=1, help="alive nodes to wait for")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--pid", type=int, help="the ray start process; stop waiting when it exits")
    p.add_argument("--temp-dir", help="wait for the node started with this --temp-dir only")
    a = p.parse_args(argv)
    try:
        wait_ready(a.dashboard_url, a.nodes, a.timeout, a.pid, a.temp_dir)
    except NotReady as exc:
        print(f"cluster not ready: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
