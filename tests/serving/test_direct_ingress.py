"""`meridian serve` as users run it: its own local Ray with Serve's direct ingress on, the API
answered by the ingress replica on its own port and, the same, through the Serve proxy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from tests.helpers import free_port


def _start(cfg_file, port, direct_port, *extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_SERVE_"))}
    env.update({"MERIDIAN_CONFIG": str(cfg_file), "MERIDIAN__RAY__NUM_CPUS": "2"})
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", "serve", "--port", str(port),
                             "--direct-port", str(direct_port), "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)


def _first_json_line(proc, timeout=150):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"meridian serve exited with {proc.returncode}")
            continue
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError("meridian serve printed no address")


def _serve(serving_root, tmp_path, *extra):
    """``meridian serve`` on the served fixture's configuration, on free ports: (process, proxy
    port, first direct port)."""
    _, cfg, _ = serving_root
    cfg_file = tmp_path / "meridian.json"
    cfg_file.write_text(cfg.model_dump_json())
    port, direct = free_port(), free_port()
    return _start(cfg_file, port, direct, *extra), port, direct


def _stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.mark.slow
def test_meridian_serve_answers_directly_and_through_the_proxy(serving_root, tmp_path):
    proc, port, direct = _serve(serving_root, tmp_path)
    try:
        out = _first_json_line(proc)
        assert out["proxy_url"] == f"http://127.0.0.1:{port}"
        assert out["direct_url"] is not None and out["url"] == out["direct_url"]
        assert int(out["direct_url"].rsplit(":", 1)[1]) in range(direct, direct + 10)
        via_direct = requests.get(out["direct_url"] + "/predictions/EURUSD", timeout=30)
        via_proxy = requests.get(out["proxy_url"] + "/predictions/EURUSD", timeout=30)
        assert via_direct.status_code == via_proxy.status_code == 200
        assert via_direct.json() == via_proxy.json()       # one replica, one cached answer
        assert via_direct.json()["horizons"][0]["models"]
        # errors come back the same way on the direct path
        bad = requests.get(out["direct_url"] + "/predictions/NOPE", timeout=30)
        assert bad.status_code == 404 and "unknown symbol" in bad.json()["detail"]
        health = requests.get(out["direct_url"] + "/health", timeout=30).json()
        assert health["models_loaded"] >= 2
        # the printed URL is this server's own, named by the token it was started with
        assert len(out["instance"]) == 32 and health["instance"] == out["instance"]
        # the WebSocket stream works on the direct port too
        from websockets.sync.client import connect
        with connect(out["direct_url"].replace("http://", "ws://") + "/stream?symbols=EURUSD", open_timeout=20) as ws:
            assert json.loads(ws.recv(timeout=20)) == {"type": "subscribed", "symbols": ["EURUSD"]}
            assert json.loads(ws.recv(timeout=20))["type"] == "bar"
    finally:
        _stop(proc)
    assert proc.returncode == 0


@pytest.mark.slow
def test_sigterm_with_a_stream_open_stops_promptly(serving_root, tmp_path):
    """An open /stream used to hold `meridian serve` for ~29 s after SIGTERM (Serve waited out the
    ingress replica's graceful-shutdown period on the open socket); the socket is closed and the
    command exits well before that."""
    from websockets.sync.client import connect
    proc, port, direct = _serve(serving_root, tmp_path)
    try:
        out = _first_json_line(proc)
        with connect(out["url"].replace("http://", "ws://") + "/stream?symbols=EURUSD", open_timeout=30) as ws:
            assert json.loads(ws.recv(timeout=30))["type"] == "subscribed"
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            took = time.monotonic() - t0
            from websockets.exceptions import ConnectionClosed
            with pytest.raises(ConnectionClosed):   # the server closed it (a timeout would mean it stayed open)
                while True:
                    ws.recv(timeout=10)
        assert proc.returncode == 0
        # Serve alone waits 20 s for an open request before it stops a replica (28 s in all here);
        # the ingress now waits 2 s, so the whole stop stays under that first wait even on a busy host
        assert took < 20, f"meridian serve took {took:.1f} s to stop with a stream open"
    finally:
        if proc.poll() is None:
            proc.kill()


_KILL_INGRESS = """
import json, sys, time
import ray
from cluster.runtime import join_ray
join_ray(sys.argv[1], log_to_driver=False)   # meridian serve's local Ray listens on 127.0.0.1 only
prefix = "SERVE_REPLICA::" + sys.argv[2] + "#Ingress#"
def ingress():
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["namespace"] == "serve" and a["name"].startswith(prefix))
(victim,) = ingress()
ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
deadline = time.time() + 90
while time.time() < deadline and [n for n in ingress() if n != victim] == []:
    time.sleep(0.2)
print(json.dumps({"victim": victim, "now": ingress()}))
"""


def _direct_urls(proxy_url):
    r = requests.get(proxy_url + "/ingress", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow
def test_killed_ingress_replica_is_found_again_through_the_proxy(serving_root, tmp_path):
    """Killing the ingress replica under load moves the direct port (Serve binds without
    SO_REUSEADDR, the old port's connections sit in TIME_WAIT, Serve blocks that port for good).
    The proxy keeps answering, and its fixed-port /ingress names the new replica's direct URL,
    which serves this server's API (its instance token)."""
    import threading

    proc, port, direct = _serve(serving_root, tmp_path)
    try:
        out = _first_json_line(proc)
        assert out["direct_url"] == f"http://127.0.0.1:{direct}" and out["ingress"] == out["proxy_url"] + "/ingress"
        listed = _direct_urls(out["proxy_url"])
        assert listed["instance"] == out["instance"]
        (victim,) = listed["direct"]
        assert victim["url"] == out["direct_url"] and victim["replica"].startswith("SERVE_REPLICA::meridian#Ingress#")
        # the direct server lists itself too
        assert _direct_urls(out["direct_url"])["direct"] == [victim]

        counts = {"direct_ok": 0, "direct_err": 0, "proxy_ok": 0, "proxy_err": 0}
        stop = threading.Event()

        def load(kind, url):
            while not stop.is_set():
                try:
                    ok = requests.get(url + "/predictions/EURUSD", timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                counts[f"{kind}_{'ok' if ok else 'err'}"] += 1
                if not ok:
                    time.sleep(0.05)
        threads = [threading.Thread(target=load, args=("direct", out["direct_url"]), daemon=True),
                   threading.Thread(target=load, args=("proxy", out["proxy_url"]), daemon=True)]
        for t in threads:
            t.start()
        while counts["direct_ok"] < 5:   # load on both paths before the kill
            time.sleep(0.05)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_SERVE_"))}
        env["RAY_AUTH_MODE"] = "disabled"
        t0 = time.monotonic()
        killed = subprocess.run([sys.executable, "-c", _KILL_INGRESS, out["ray_address"], out["app"]],
                                capture_output=True, text=True, env=env, timeout=150)
        assert killed.returncode == 0, killed.stderr[-2000:]
        seen = json.loads(killed.stdout.strip().splitlines()[-1])
        assert seen["victim"] == victim["replica"] and seen["victim"] not in seen["now"]
        # the proxy's /ingress names the new replica once it runs
        deadline = time.monotonic() + 90
        new = []
        while time.monotonic() < deadline:
            new = [d for d in _direct_urls(out["proxy_url"])["direct"] if d["replica"] != victim["replica"]]
            if new:
                break
            time.sleep(0.2)
        back = time.monotonic() - t0
        assert len(new) == 1, f"/ingress named no new replica 90 s after the kill: {new}"
        new_url = new[0]["url"]
        assert int(new_url.rsplit(":", 1)[1]) in range(direct, direct + 10)
        health = requests.get(new_url + "/health", timeout=10).json()
        assert health["instance"] == out["instance"]
        r = requests.get(new_url + "/predictions/EURUSD", timeout=30)
        assert r.status_code == 200 and r.json()["horizons"][0]["models"]
        stop.set()
        for t in threads:
            t.join(timeout=15)
        # the proxy answered throughout: its errors, if any, are the kill's few in-flight requests
        assert counts["proxy_ok"] > 0 and counts["proxy_err"] <= 5, counts
        print(f"\nnew replica on {new_url} (was {victim['url']}) {back:.1f} s after the kill; {counts}")
    finally:
        _stop(proc)
