"""Latency and throughput of a single-symbol ensemble prediction over loopback HTTP: the Serve
application as `meridian serve` runs it (direct ingress: the ingress replica's own port; and the
same app through the Serve proxy, ``serving_proxy_*``) next to the same routes and models in one
plain FastAPI/uvicorn process (the floor).

At 1, 10 and 50 concurrent clients, for answers from the per-bar cache (the steady state between
bars) and with the cache off (every request asks every model). Prints one JSON object per
figure; ``baseline`` is the floor's figure and ``ratio`` Serve / floor.

    .venv/bin/python tests/bench/bench_serving.py [--seconds 4] [--levels 1,10,50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.helpers import free_port  # noqa: E402

SYMBOL = "EURUSD"


async def load(url: str, concurrency: int, seconds: float) -> dict:
    """``concurrency`` clients, each sending the next request when the last is answered."""
    import aiohttp
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def client():
            nonlocal errors
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                async with session.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                lat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "rps": len(a) / wall, "n": len(a), "errors": errors}


def wait_up(url: str, timeout: float = 60) -> None:
    import requests
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def measure(base: str, levels: list[int], seconds: float) -> dict[int, dict]:
    url = f"{base}/predictions/{SYMBOL}"
    asyncio.run(load(url, 4, 1.0))  # warm up
    return {c: asyncio.run(load(url, c, seconds)) for c in levels}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--levels", default="1,10,50")
    args = p.parse_args()
    from cluster.runtime import find_direct_ingress, serve_direct_env
    direct_port = free_port()
    os.environ.update(serve_direct_env(direct_port))  # as `meridian serve` runs it
    levels = [int(x) for x in args.levels.split(",")]

    import ray
    from ray import serve

    from pipelines.config import load_config
    from pipelines.jobs.demo import DEMO_DEFAULTS, run as run_demo
    from serving.app import compose
    from serving.config import ServeAppConfig, ServeOptions

    root = Path(tempfile.mkdtemp(prefix="meridian-bench-serving-"))
    overrides = {**DEMO_DEFAULTS, "store": {"path": str(root / "data" / "lake")}, "report_dir": str(root / "reports"),
                 "walkforward": {"horizon": 1, "train_bars": 300, "test_bars": 100},
                 "models": {"params": {"xgboost": {"n_estimators": 100}}}}
    cfg_path = root / "meridian.yaml"
    cfg_path.write_text(json.dumps(overrides))
    cfg = load_config(cfg_path, environ={})
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200_000_000, log_to_driver=False)
    run_demo(cfg, [SYMBOL], ["xgboost", "logistic", "random_forest"], max_bars=700, progress=False)

    results: dict[str, dict] = {}
    serve_port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
    for cache in (True, False):
        opts = ServeOptions(cache_predictions=cache)
        mode = "cached" if cache else "models"
        serve.run(compose(ServeAppConfig(meridian=cfg, options=opts)), name="bench", route_prefix="/")
        base = f"http://127.0.0.1:{serve_port}"
        wait_up(base + "/health")
        direct = find_direct_ingress("127.0.0.1", direct_port)
        if direct is None:
            raise RuntimeError("the ingress replica's direct port does not answer")
        results[f"serve-{mode}"] = measure(direct, levels, args.seconds)
        results[f"proxy-{mode}"] = measure(base, levels, args.seconds)
        serve.delete("bench")

        port = free_port()
        floor = subprocess.Popen([sys.executable, "-m", "serving.local", "--config", str(cfg_path), "--port", str(port),
                                  "--options", opts.model_dump_json()], cwd=REPO)
        try:
            wait_up(f"http://127.0.0.1:{port}/health")
            results[f"floor-{mode}"] = measure(f"http://127.0.0.1:{port}", levels, args.seconds)
        finally:
            floor.terminate()
            floor.wait(timeout=20)
    serve.shutdown()
    ray.shutdown()

    for path, prefix in (("serve", "serving"), ("proxy", "serving_proxy")):
        for mode in ("cached", "models"):
            for c in levels:
                s, f = results[f"{path}-{mode}"][c], results[f"floor-{mode}"][c]
                for key, unit in (("p50", "ms"), ("p99", "ms"), ("rps", "req/s")):
                    print(json.dumps({"bench": f"{prefix}_{mode}_{key}_c{c}", "value": round(s[key], 2),
                                      "unit": unit, "baseline": round(f[key], 2), "ratio": round(s[key] / f[key], 2),
                                      "requests": s["n"], "errors": s["errors"], "baseline_errors": f["errors"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
