"""Where each kind of work goes. The only module that knows about node placement.

- head work (ingestion actors, the store writer, Serve) asks for a sliver of the ``head``
  custom resource when the cluster has one;
- training work asks for a GPU only when some node has one, else runs on CPU, so nothing
  stays pending forever.
"""

from __future__ import annotations

import ray

HEAD_RESOURCE = "head"
GPU_WORKER_RESOURCE = "gpu_worker"


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
