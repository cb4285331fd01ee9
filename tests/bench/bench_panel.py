"""Panel page load time to first full render (key elements visible), per page, in headless
Chromium, against a real Serve app over the demo's store. Prints one JSON object per figure.

    .venv/bin/python tests/bench/bench_panel.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

PAGES = {"overview": ("", "Top predictions"), "asset": ("asset", "Risk"),
         "portfolio": ("portfolio", "Suggested actions"), "models": ("models", "Training status")}
REPEATS = 5


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import ray
    from playwright.sync_api import sync_playwright
    from ray import serve

    from pipelines.config import load_config
    from pipelines.jobs.demo import DEMO_DEFAULTS, run
    from serving.app import compose
    from serving.config import ServeAppConfig

    chromium = shutil.which("chromium")
    if chromium is None:
        print(json.dumps({"bench": "panel_load", "error": "chromium not installed"}))
        return
    root = Path(tempfile.mkdtemp())
    cfg = load_config(overrides={**DEMO_DEFAULTS, "store": {"path": str(root / "lake")},
                                 "report_dir": str(root / "reports")}, environ={})
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200_000_000, log_to_driver=False)
    run(cfg, ["EURUSD", "SPX"], ["xgboost"], max_bars=2000, progress=False)
    api_port, panel_port = port(), port()
    serve.start(http_options={"host": "127.0.0.1", "port": api_port})
    serve.run(compose(ServeAppConfig(meridian=cfg)), name="bench", route_prefix="/")
    env = {**os.environ, "MERIDIAN__DASHBOARD__API_URL": f"http://127.0.0.1:{api_port}"}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "dashboard", "--port", str(panel_port)],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{panel_port}"
    try:
        for _ in range(200):
            try:
                if requests.get(url + "/_stcore/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"])
            for name, (path, marker) in PAGES.items():
                times = []
                for i in range(REPEATS + 1):
                    page = browser.new_page()
                    t0 = time.perf_counter()
                    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
                    page.get_by_text(marker, exact=False).first.wait_for(timeout=60_000)
                    elapsed = time.perf_counter() - t0
                    page.close()
                    if i:  # the first load warms the panel's server
                        times.append(elapsed)
                print(json.dumps({"bench": f"panel_load_{name}", "value": round(statistics.median(times), 3),
                                  "unit": "s", "target": 2.0,
                                  "max": round(max(times), 3), "repeats": REPEATS}))
            browser.close()
    finally:
        proc.terminate()
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
