"""The running panel in headless Chromium: each page loads, renders its key elements, and a
screenshot is saved."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {  # url path -> texts the page must show once rendered
    "": ["Overview", "Trading sessions", "Markets", "Top predictions"],
    "asset": ["Asset detail", "Indicators", "Risk"],
    "portfolio": ["Portfolio", "Positions", "Suggested actions"],
    "models": ["Model monitor", "Comparison", "Training status"],
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def panel_url(panel_api):
    port = _port()
    env = {**os.environ, "MERIDIAN__DASHBOARD__API_URL": panel_api.url}
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "dashboard", "--port", str(port)],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(url + "/_stcore/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the panel did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_every_page_renders_in_chromium(panel_url, tmp_path):
    from playwright.sync_api import sync_playwright
    shots = Path(os.environ.get("MERIDIAN_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path, must in PAGES.items():
            page.goto(f"{panel_url}/{path}", wait_until="domcontentloaded")
            for text in must:
                page.get_by_text(text, exact=False).first.wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            body = page.inner_text("body")
            assert "Traceback" not in body and "not reachable" not in body
            out = shots / f"panel-{path or 'overview'}.png"
            page.screenshot(path=str(out), full_page=True)
            assert out.stat().st_size > 10_000
        browser.close()
