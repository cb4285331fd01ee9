"""Training status for the panel: Ray tasks and actors that are training now (live, from
Ray's state API, which also feeds the dashboard) and the trials of Tune experiments (from the
experiment state Tune writes, so it answers without a running cluster too)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# functions and classes whose running instances are training work
TRAINING_NAMES = ("fit_fold", "train_model", "ImplicitFunc", "run_with_fallback")


def live_training(address: str | None = None, timeout: int = 5) -> dict[str, Any]:
    """Running training tasks and Tune trial actors, from Ray's state API. When the state API
    cannot be reached (no dashboard), says so in ``error`` instead of raising."""
    try:
        import ray
        from ray.util.state import list_actors, list_tasks
        if address is None and ray.is_initialized():
            address = ray.get_runtime_context().gcs_address     # this driver's cluster
        tasks = list_tasks(address=address, filters=[("state", "=", "RUNNING")], timeout=timeout,
                           detail=True, raise_on_missing_output=False)
        actors = list_actors(address=address, filters=[("state", "=", "ALIVE")], timeout=timeout,
                             detail=True, raise_on_missing_output=False)
    except Exception as exc:            # the state API lives in the dashboard process
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"[:300], "tasks": [], "trials": []}
    out_tasks = [{"task_id": t.task_id, "name": t.name, "node_id": t.node_id, "state": t.state,
                  "required_resources": t.required_resources, "worker_pid": t.worker_pid,
                  "start_time_ms": t.start_time_ms}
                 for t in tasks if any(n in (t.name or "") for n in TRAINING_NAMES)]
    out_actors = [{"actor_id": a.actor_id, "class_name": a.class_name, "node_id": a.node_id, "state": a.state,
                   "pid": a.pid, "required_resources": a.required_resources}
                  for a in actors if any(n in (a.class_name or "") for n in TRAINING_NAMES)]
    return {"available": True, "error": None, "tasks": out_tasks, "trials": out_actors}


def experiment_trials(path: str | Path) -> list[dict[str, Any]]:
    """Every trial of one Tune experiment folder: status, last reported metrics, config."""
    from ray.tune import ExperimentAnalysis
    from pipelines.errors import ModelError
    p = Path(path)
    if not p.is_dir():
        raise ModelError(f"no Tune experiment at {p}")
    ea = ExperimentAnalysis(str(p))
    rows = []
    for t in ea.trials:
        last = t.last_result or {}
        rows.append({"trial_id": t.trial_id, "status": t.status, "config": t.config,
                     "iteration": last.get("training_iteration"), "val_mse": last.get("val_mse"),
                     "val_loss": last.get("val_loss"), "final": bool(last.get("final", False))})
    return rows


def training_status(tune_root: str | Path | None = None, address: str | None = None) -> dict[str, Any]:
    """What GET /training returns: live training work, and per experiment under ``tune_root``
    its model and trials with their status."""
    out: dict[str, Any] = {"live": live_training(address), "experiments": []}
    root = Path(tune_root) if tune_root else None
    if root and root.is_dir():
        for spec in sorted(root.glob("*/meridian_tune.json")):
            exp = spec.parent
            try:
                trials = experiment_trials(exp)
            except Exception as exc:   # a half-written experiment: report it, keep the others
                log.warning("cannot read Tune experiment %s: %s", exp, exc)
                trials = []
            meta = json.loads(spec.read_text())
            counts: dict[str, int] = {}
            for t in trials:
                counts[t["status"]] = counts.get(t["status"], 0) + 1
            out["experiments"].append({"path": str(exp), "model": meta.get("model"),
                                       "symbol": meta.get("symbol"), "status_counts": counts,
                                       "trials": trials})
    return out
