"""How a process reaches Ray: connect to a cluster, or start a small local Ray in-process."""

from __future__ import annotations

import logging
import os

import ray

from pipelines.config import RayConfig

log = logging.getLogger(__name__)


def init_ray(cfg: RayConfig, *, runtime_env: dict | None = None) -> dict:
    """Start or join Ray as the config says; returns the cluster's resources.

    A local Ray gets explicit CPUs, a capped object store and no dashboard by default, and token
    auth is disabled for it unless the environment says otherwise, so nothing is written under
    ``$HOME/.ray``. Joining an existing Ray (``address``) uses the cluster's own settings."""
    if ray.is_initialized():
        return ray.cluster_resources()
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs: dict = {"num_cpus": cfg.num_cpus, "object_store_memory": cfg.object_store_memory,
                        "include_dashboard": cfg.include_dashboard, "runtime_env": runtime_env}
        if cfg.num_gpus is not None:
            kwargs["num_gpus"] = cfg.num_gpus
        if cfg.temp_dir:
            kwargs["_temp_dir"] = cfg.temp_dir
        ray.init(**kwargs)
    res = ray.cluster_resources()
    log.info("Ray resources: %s", res)
    return res


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()
