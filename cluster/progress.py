"""Progress of long work (Tune searches, RL training) in Ray's own records, so the dashboard's
Jobs page and the state API show it while a job runs.

Work that runs inside one driver (an RLlib algorithm with no env runners, a Tune controller)
leaves no task of its own to look at. A :class:`Progress` starts one small actor per piece of
work, named ``meridian-progress <kind> <subject>``, and every report is a call on it whose task
name is the progress line itself (``rl ppo GOOG iteration 3/5 return_mean=0.0123``), listed by
``ray.util.state.list_tasks`` and the dashboard's task table of the job. The actor also keeps the
latest report as a record (:meth:`ProgressBoard.latest`) for a reader that wants the numbers.

Reports are fire-and-forget: a board that cannot be started or reached never stops the work.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ray

from cluster.placement import head_options

log = logging.getLogger(__name__)

ACTOR_PREFIX = "meridian-progress"


class ProgressBoard:
    """The latest progress of one piece of work (the body of the actor)."""

    def __init__(self, kind: str, subject: str) -> None:
        self.kind, self.subject = kind, subject
        self.state: dict[str, Any] = {"kind": kind, "subject": subject, "step": None, "metrics": {},
                                      "reports": 0, "updated": None}

    def report(self, step: str, metrics: dict[str, Any]) -> None:
        self.state = {**self.state, "step": step, "metrics": dict(metrics), "reports": self.state["reports"] + 1,
                      "updated": time.time()}

    def latest(self) -> dict[str, Any]:
        return dict(self.state)


def line(kind: str, subject: str, step: str, metrics: dict[str, Any]) -> str:
    """One progress line: what runs, how far, the metrics so far."""
    shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in metrics.items() if v is not None)
    return " ".join(p for p in (kind, subject, step, shown) if p)


class Progress:
    """Reports of one piece of work, e.g. ``Progress("rl", "ppo GOOG 1h")``; a context manager
    whose exit removes the actor (its report tasks stay listed by the state API)."""

    def __init__(self, kind: str, subject: str) -> None:
        self.kind, self.subject = kind, subject
        self.name = f"{ACTOR_PREFIX} {kind} {subject}"
        self.actor = None
        self._last = None
        if not ray.is_initialized():
            return
        try:
            self.actor = (ray.remote(ProgressBoard)
                          .options(name=f"{self.name} {time.time_ns()}", max_restarts=0, max_concurrency=1,
                                   **head_options(num_cpus=0))
                          .remote(kind, subject))
        except Exception as exc:   # progress is a courtesy: the work goes on without it
            log.warning("no progress board for %s: %s", self.name, exc)

    def report(self, step: str, **metrics: Any) -> None:
        if self.actor is None:
            return
        try:
            self._last = self.actor.report.options(name=line(self.kind, self.subject, step, metrics)).remote(
                step, metrics)
        except Exception as exc:
            log.debug("progress report dropped: %s", exc)

    def close(self) -> None:
        if self.actor is not None:
            actor, self.actor = self.actor, None
            try:
                if self._last is not None:   # the last line is recorded before the board goes
                    ray.wait([self._last], timeout=5.0)
                ray.kill(actor, no_restart=True)
            except Exception as exc:
                log.debug("progress board not removed: %s", exc)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
