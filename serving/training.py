"""Retraining on demand (a Ray task on the training resources) and the training status."""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import ray

from cluster.placement import Work, options_for
from pipelines.config import MeridianConfig

from serving.errors import public_reason

log = logging.getLogger(__name__)


def retrain(cfg: MeridianConfig, symbols: list[str], models: list[str], horizon: int,
            promote: bool) -> dict:
    """Walk-forward training of the models on the symbols' stored bars, registered (and promoted
    when asked). Runs inside a Ray task; its folds run in-process (the task holds the CPU)."""
    from models.registry import promote as promote_model
    from pipelines.jobs.train import run
    from pipelines.store import open_store
    cfg = cfg.model_copy(update={"walkforward": cfg.walkforward.model_copy(update={"horizon": horizon})})
    store = open_store(cfg.store)
    try:
        out = run(cfg, store, symbols, models, register=True,
                  models_dir=cfg.models_dir, use_ray=False, progress=False)
        promoted = []
        if promote:
            for r in out["symbols"].values():
                for name, mid in r["model_ids"].items():
                    if name in r["models"]:
                        promote_model(store, mid)
                        promoted.append(mid)
        return {"model_ids": {s: r["model_ids"] for s, r in out["symbols"].items()}, "promoted": promoted,
                "seconds": out["seconds"]}
    finally:
        store.close()


@dataclass
class _Run:
    run_id: str
    ref: Any
    started_at: pd.Timestamp
    detail: dict
    finished_at: pd.Timestamp | None = None
    state: str = "RUNNING"
    result: dict = field(default_factory=dict)


class TrainingTracker:
    """Retraining runs started by this replica, and the status of training from Ray."""

    def __init__(self, cfg: MeridianConfig, tune_root: str | None = None) -> None:
        self.cfg = cfg
        self.tune_root = tune_root
        self.runs: dict[str, _Run] = {}

    def start(self, symbols: list[str], models: list[str], horizon: int, promote: bool) -> dict:
        opts = options_for(Work.TRAIN, want_gpu=self.cfg.models.use_gpu)
        task = ray.remote(retrain).options(max_retries=0, **opts)
        run_id = time.strftime("retrain-%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        ref = task.remote(self.cfg, symbols, models, horizon, promote)
        detail = {"symbols": symbols, "models": models, "horizon": horizon, "promote": promote,
                  "resources": {k: v for k, v in opts.items() if k != "resources"}}
        self.runs[run_id] = _Run(run_id, ref, pd.Timestamp.now(tz="UTC"), detail)
        return self._view(self.runs[run_id])

    def _poll(self, r: _Run) -> None:
        if r.state != "RUNNING":
            return
        done, _ = ray.wait([r.ref], timeout=0)
        if not done:
            return
        r.finished_at = pd.Timestamp.now(tz="UTC")
        try:
            r.result = ray.get(r.ref, timeout=5)
            r.state = "FINISHED"
        except Exception as exc:
            log.warning("retrain %s failed: %s", r.run_id, exc, exc_info=True)
            r.state, r.result = "FAILED", {"error": public_reason(exc)}

    def _view(self, r: _Run) -> dict:
        self._poll(r)
        return {"run_id": r.run_id, "kind": "retrain", "state": r.state,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat() if r.finished_at is not None else None,
                "detail": {**r.detail, **r.result}}

    def status(self) -> dict:
        runs = [self._view(r) for r in self.runs.values()]
        extra, src, notes = external_status(self.tune_root)
        runs.extend(extra)
        return {"source": f"serve+{src}" if src else "serve", "runs": runs, "notes": notes}


def external_status(tune_root: str | None = None) -> tuple[list[dict], str | None, list[str]]:
    """Training seen by Ray and Tune: ``models.tuning.status.training_status`` (live training tasks
    and trial actors from Ray's state API, Tune experiments under ``tune_root``) when that package
    is present, else Ray's job list. Returns (runs, source, notes); a source that cannot answer
    (no dashboard for the state API) is a note, not an error."""
    notes: list[str] = []
    try:
        mod = importlib.import_module("models.tuning.status")
        res = mod.training_status(tune_root)
    except Exception as exc:
        log.debug("tuning status unavailable: %s", exc)
    else:
        live = res.get("live") or {}
        if not live.get("available", False) and live.get("error"):
            log.info("Ray's state API unavailable: %s", live["error"])
            notes.append("live training from Ray's state API is unavailable (the Ray dashboard is not running)")
        runs = [_normalise({"run_id": t.get("task_id"), "kind": "task", "state": t.get("state"),
                            "detail": {"name": t.get("name"), "node_id": t.get("node_id")}})
                for t in live.get("tasks", [])]
        runs += [_normalise({"run_id": a.get("actor_id"), "kind": "trial", "state": a.get("state"),
                             "detail": {"class_name": a.get("class_name"), "node_id": a.get("node_id")}})
                 for a in live.get("trials", [])]
        for exp in res.get("experiments", []):
            counts = exp.get("status_counts") or {}
            state = "RUNNING" if counts.get("RUNNING") or counts.get("PENDING") else \
                    ("FAILED" if counts.get("ERROR") and len(counts) == 1 else "FINISHED")
            runs.append(_normalise({"run_id": exp.get("path"), "kind": "tune", "state": state,
                                    "detail": {"model": exp.get("model"), "symbol": exp.get("symbol"),
                                               "status_counts": counts, "trials": len(exp.get("trials", []))}}))
        return runs, "tuning", notes
    try:
        from ray.util.state import list_jobs
        jobs = list_jobs(timeout=2, raise_on_missing_output=False)
        return [_normalise({"run_id": j.submission_id or j.job_id, "kind": "job", "state": str(j.status),
                            "started_at": j.start_time, "finished_at": j.end_time,
                            "detail": {"entrypoint": j.entrypoint}}) for j in jobs], "ray", notes
    except Exception as exc:
        log.info("Ray's job list unavailable: %s", exc)
        notes.append("Ray's job list is unavailable (the Ray dashboard is not running)")
    return [], None, notes


def _ms(v) -> str | None:
    if v in (None, 0, ""):
        return None
    if isinstance(v, (int, float)):
        return pd.Timestamp(v, unit="ms", tz="UTC").isoformat()
    return str(v)


def _normalise(x: Any) -> dict:
    d = x if isinstance(x, dict) else getattr(x, "__dict__", {"value": str(x)})
    return {"run_id": str(d.get("run_id") or d.get("id") or d.get("name") or "?"),
            "kind": str(d.get("kind", "training")), "state": str(d.get("state") or d.get("status") or "UNKNOWN"),
            "started_at": _ms(d.get("started_at")), "finished_at": _ms(d.get("finished_at")),
            "detail": {k: v for k, v in (d.get("detail") or {}).items()} if isinstance(d.get("detail"), dict) else {}}
