"""A deep-model Tune search whose driver is killed (SIGKILL) mid-run continues with
`meridian tune --resume`: finished trials stay, the interrupted one restarts from its last
epoch checkpoint, and the best trial is registered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.sources.sample import sample_bars
from pipelines.store import ParquetStore

REPO = Path(__file__).resolve().parents[2]


def _wait_for_checkpoints(storage: Path, proc: subprocess.Popen, timeout: float = 240) -> Path:
    """The experiment folder, once Tune's saved experiment state records a trial checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        for exp in storage.glob("*/meridian_tune.json"):
            d = exp.parent
            if any("checkpoint_0000" in f.read_text(errors="ignore") for f in d.glob("experiment_state-*.json")):
                return d
        time.sleep(0.05)
    raise AssertionError("no trial checkpoint appeared")


@pytest.mark.slow
def test_resume_after_the_driver_is_killed(ray_session, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MERIDIAN__STORE__PATH", str(tmp_path / "lake"))
    s = ParquetStore(tmp_path / "lake")
    bars, _ = sample_bars("SPX", 300)
    s.write("bars", bars)
    s.close()
    storage = tmp_path / "tune"
    env = {**os.environ, "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
           "MERIDIAN__STORE__PATH": str(tmp_path / "lake"), "OMP_NUM_THREADS": "1"}
    args = ["--model", "gru", "--symbol", "SPX", "--trials", "2", "--scheduler", "fifo", "--max-epochs", "6",
            "--concurrent", "1", "--param", "hidden=8", "--param", "window=8", "--param", "aux_horizons=[5]",
            "--param", "patience=10", "--storage", str(storage), "--json"]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.jobs.tune", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        exp = _wait_for_checkpoints(storage, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    capsys.readouterr()
    assert main(["tune", "--resume", str(exp), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "gru" and out["experiment_path"] == str(exp.resolve())
    assert len(out["trials"]) == 2 and all(t["final"] for t in out["trials"])
    assert any(t["resumed"] for t in out["trials"])          # continued from a checkpoint
    assert all(t["iterations"] >= 2 for t in out["trials"])
    store = ParquetStore(tmp_path / "lake")
    try:
        from models.registry import get
        rec = get(store, out["model_id"])
        assert rec.kind == "tune-best" and rec.config["params"]["hidden"] == 8
    finally:
        store.close()
