"""``meridian dashboard``: the Streamlit panel (port 8501 by default)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import dashboards

APP = Path(dashboards.__file__).parent / "app.py"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="run the Streamlit panel (talks to the Serve API)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--api-url", help="Serve API base URL (default: $MERIDIAN__DASHBOARD__API_URL "
                                     "or http://127.0.0.1:8000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.api_url:
        env["MERIDIAN__DASHBOARD__API_URL"] = args.api_url
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(args.port),
           "--server.address", args.host, "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]
    # replace this process, so that stopping `meridian dashboard` stops the panel itself
    os.execvpe(cmd[0], cmd, env)
    return 0  # not reached
