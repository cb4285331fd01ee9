"""Where each kind of work goes. The only module that knows about node placement.

| work                                         | where                                          |
| -------------------------------------------- | ---------------------------------------------- |
| ingestion actors, store writer, scheduler, Serve | the head (a sliver of its ``head`` resource)   |
| training, Tune trials, RL learners, batch inference | a GPU when some node has one, else any CPU   |
| RL env runners                               | the head when the cluster declares one         |

Nothing asks for a resource the cluster does not have, so nothing stays pending forever; and
:func:`run_with_fallback` re-runs GPU work on CPU when the GPU node dies under it.
"""

from __future__ import annotations

import logging
import time
from enum import Enum
from typing import Any, Callable

import ray
from ray.exceptions import (ActorDiedError, GetTimeoutError, NodeDiedError, OwnerDiedError,
                            WorkerCrashedError)

log = logging.getLogger(__name__)

HEAD_RESOURCE = "head"
GPU_WORKER_RESOURCE = "gpu_worker"
_LOST = (NodeDiedError, WorkerCrashedError, OwnerDiedError, ActorDiedError)


class Work(str, Enum):
    INGEST = "ingest"
    STORE_WRITER = "store_writer"
    SCHEDULER = "scheduler"
    SERVE = "serve"
    TRAIN = "train"
    TUNE_TRIAL = "tune_trial"
    RL_LEARNER = "rl_learner"
    RL_ENV_RUNNER = "rl_env_runner"
    BATCH_INFERENCE = "batch_inference"


HEAD_WORK = {Work.INGEST, Work.STORE_WRITER, Work.SCHEDULER, Work.SERVE, Work.RL_ENV_RUNNER}
GPU_WORK = {Work.TRAIN, Work.TUNE_TRIAL, Work.RL_LEARNER, Work.BATCH_INFERENCE}


def cluster_has(resource: str) -> bool:
    return ray.is_initialized() and ray.cluster_resources().get(resource, 0) > 0


def has_gpu() -> bool:
    return cluster_has("GPU")


def head_options(num_cpus: float = 0.25) -> dict:
    """Ray options for work pinned to the head node (when the cluster declares one)."""
    opts: dict = {"num_cpus": num_cpus}
    if cluster_has(HEAD_RESOURCE):
        opts["resources"] = {HEAD_RESOURCE: 0.01}
    return opts


def training_options(want_gpu: bool, num_cpus: float = 1.0) -> dict:
    """Ray options for a training task: one GPU when wanted and present, else CPU only."""
    if want_gpu and has_gpu():
        return {"num_cpus": num_cpus, "num_gpus": 1}
    return {"num_cpus": num_cpus}


def options_for(work: Work, *, want_gpu: bool = True, num_cpus: float | None = None) -> dict:
    """Ray options for a kind of work on the cluster as it is now."""
    if work in HEAD_WORK:
        return head_options(0.25 if num_cpus is None else num_cpus)
    return training_options(want_gpu, 1.0 if num_cpus is None else num_cpus)


def rllib_resources(want_gpu: bool = True) -> dict:
    """Keyword arguments for RLlib's ``.learners()`` and ``.env_runners()``: learners on the GPU
    node when one exists, env runners on the head when the cluster declares one."""
    gpu = want_gpu and has_gpu()
    runners: dict = {}
    if cluster_has(HEAD_RESOURCE):
        runners["custom_resources_per_env_runner"] = {HEAD_RESOURCE: 0.01}
    return {"learners": {"num_learners": 1 if gpu else 0, "num_gpus_per_learner": 1 if gpu else 0},
            "env_runners": runners}


def run_with_fallback(fn: Callable[..., Any], *args: Any, want_gpu: bool = True, num_cpus: float = 1.0,
                      timeout: float = 3600.0, attempts: int = 3, poll: float = 1.0, **kwargs: Any) -> Any:
    """Run ``fn`` as a Ray task where training belongs, surviving the loss of its node.

    It asks for a GPU only while the cluster has one. If the node dies under it, or the GPU
    disappears while the task waits for one, it is submitted again with the options the cluster
    supports now (on CPU if no GPU remains). Raises the last error after ``attempts`` losses."""
    remote = ray.remote(fn)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    for attempt in range(attempts):
        opts = training_options(want_gpu, num_cpus)
        ref = remote.options(**opts, max_retries=0).remote(*args, **kwargs)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                ray.cancel(ref, force=True)
                raise GetTimeoutError(f"{getattr(fn, '__name__', 'task')} did not finish in {timeout} s")
            ready, _ = ray.wait([ref], timeout=min(poll, remaining))
            if ready:
                try:
                    return ray.get(ref)
                except _LOST as exc:
                    last = exc
                    log.warning("%s lost its node (attempt %d): %s; resubmitting",
                                getattr(fn, "__name__", "task"), attempt + 1, type(exc).__name__)
                    break
            if opts.get("num_gpus") and not has_gpu():
                log.warning("GPU left the cluster while %s waited; resubmitting on CPU",
                            getattr(fn, "__name__", "task"))
                ray.cancel(ref, force=True)
                break
    raise last or RuntimeError("task could not be placed")


def node_of_current_task() -> dict:
    """Where the calling task runs: node id, IP, GPU ids (for placement tests and status pages)."""
    ctx = ray.get_runtime_context()
    return {"node_id": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(),
            "gpu_ids": [str(g) for g in ray.get_gpu_ids()]}
