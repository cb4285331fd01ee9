"""How a process reaches Ray: connect to a cluster, or start a small local Ray in-process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket

import ray

from pipelines.config import RayConfig
from pipelines.errors import ClusterError, MeridianError

log = logging.getLogger(__name__)

# Runs in every worker of a Ray that Meridian starts or joins: what a task or actor prints or
# logs has the keys and passwords of its environment and of the configuration it holds masked
# before it reaches the worker's log files and, through them, the driver's console. A module
# path, so a job can name it too (``runtime_env: {worker_process_setup_hook: ...}``). Ray 2.60
# reads that field only in a job's runtime_env (Serve replicas of ``meridian serve`` inherit it);
# serving/serve-config.yaml names the hook through Ray's variable for it instead.
WORKER_SETUP_HOOK = "pipelines.secrets.scrub_worker"


def worker_runtime_env(runtime_env: dict | None = None) -> dict:
    """``runtime_env`` with Meridian's worker setup hook (a hook already named there stays)."""
    env = dict(runtime_env or {})
    env.setdefault("worker_process_setup_hook", WORKER_SETUP_HOOK)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Ports a local Ray takes by default whoever holds them already (another Ray on the machine, a
# user's or a test's): the dashboard agent's HTTP server (52365; held, the new node's agent
# fails and jobs never get one) and the Prometheus endpoints of the autoscaler monitor (44217)
# and of the dashboard process (44227), both read from these variables by the processes.
METRICS_PORT_VARS = ("AUTOSCALER_METRIC_PORT", "DASHBOARD_METRIC_PORT")


@contextlib.contextmanager
def _clustering_off():
    """Ray's clustering off in this process and the Ray processes it starts meanwhile: its node
    address is 127.0.0.1 and a loopback address stays one (Ray 2.60 otherwise turns 127.0.0.1
    into the machine's routable address, on a node it starts and in an address it joins)."""
    from ray._private import ray_constants

    var = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    saved_env, saved = os.environ.get(var), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[var] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
        if saved_env is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = saved_env


def _loopback_only(address: str) -> bool:
    """Whether ``address`` is a Ray that listens on 127.0.0.1 only (one :func:`start_local_ray`
    started): a loopback address whose port the machine's routable address does not answer."""
    host, _, port = address.split("://")[-1].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit():
        return False
    from ray._private.services import get_node_ip_address
    try:
        socket.create_connection((get_node_ip_address(), int(port)), timeout=2).close()
        return False
    except OSError:
        return True


def join_ray(address: str, **kwargs) -> None:
    """``ray.init(address=address, **kwargs)``, also for a Ray on 127.0.0.1 only (a local Ray of
    another process, e.g. ``meridian serve``'s), which plain ``ray.init`` looks for at the
    machine's routable address instead (as do ``ray status`` and the ``serve`` CLI: give them
    ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``)."""
    with _clustering_off() if _loopback_only(address) else contextlib.nullcontext():
        ray.init(address=address, **kwargs)


@contextlib.contextmanager
def _loopback_node():
    """While a local Ray starts: its node address is 127.0.0.1 and the ports it would take by
    fixed default are free ones.

    Ray 2.60 turns a loopback ``_node_ip_address`` into the machine's routable address unless
    clustering is off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the default only on macOS and
    Windows); with it off, the GCS, the raylet, the workers, the agents and the metrics
    endpoints all listen on 127.0.0.1 (``tests/cluster/test_runtime.py`` checks each). The
    variable reaches the Ray processes started now (and, through the raylet, its workers) and
    is put back afterwards, so this process can still join a cluster later. The agent's port
    has no ``ray.init`` argument: the node's parameters get it."""
    from ray._private import parameter, ray_constants

    agent_port = free_port()
    given = parameter.RayParams

    class LocalParams(given):   # ray.init builds the head node's parameters from this name
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if self.dashboard_agent_listen_port == ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT:
                self.dashboard_agent_listen_port = agent_port

    env = {var: os.environ.get(var) or str(free_port()) for var in METRICS_PORT_VARS}
    saved_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    parameter.RayParams = LocalParams
    try:
        with _clustering_off():
            yield
    finally:
        parameter.RayParams = given
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_local_ray(**kwargs) -> None:
    """``ray.init(address="local", **kwargs)``: a new Ray of this process's own, whatever other
    Ray runs on the machine (Ray would otherwise join the last one started there and refuse
    ``num_cpus``), that listens on 127.0.0.1 only and on no fixed default port (see
    :func:`_loopback_node`). Its dashboard, when on, listens on 127.0.0.1 too."""
    kwargs.setdefault("dashboard_host", "127.0.0.1")
    with _loopback_node():
        ray.init(address="local", **kwargs)


def init_ray(cfg: RayConfig, *, runtime_env: dict | None = None) -> dict:
    """Start or join Ray as the config says; returns the cluster's resources.

    A local Ray gets explicit CPUs, a capped object store and no dashboard by default, and token
    auth is disabled for it unless the environment says otherwise, so nothing is written under
    ``$HOME/.ray``. It is always a new instance of this process's own, on 127.0.0.1 only and on
    free ports (:func:`start_local_ray`). Joining a cluster needs ``cfg.address`` or
    ``RAY_ADDRESS`` (set by ``ray job submit`` for a job's driver) and uses the cluster's settings.
    Either way the job's workers run :data:`WORKER_SETUP_HOOK` (merged into a submitted job's own
    runtime env), so a secret a worker prints or logs reaches neither its log files nor this console."""
    if ray.is_initialized():
        return ray.cluster_resources()
    runtime_env = worker_runtime_env(runtime_env)
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        join_ray(address, runtime_env=runtime_env, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        kwargs: dict = {"num_cpus": cfg.num_cpus, "object_store_memory": cfg.object_store_memory,
                        "include_dashboard": cfg.include_dashboard, "runtime_env": runtime_env}
        if cfg.num_gpus is not None:
            kwargs["num_gpus"] = cfg.num_gpus
        if cfg.temp_dir:
            kwargs["_temp_dir"] = cfg.temp_dir
        start_local_ray(**kwargs)
    res = ray.cluster_resources()
    log.info("Ray resources: %s", res)
    return res


def result(ref: "ray.ObjectRef", timeout: float | None = None):
    """``ray.get`` whose failure reads as the project's own error: a task or actor that raised a
    :class:`MeridianError` re-raises it here (one line for the user, not Ray's traceback); any
    other failure becomes a :class:`ClusterError` naming the exception."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, MeridianError):
            raise cause from None
        raise ClusterError(f"a Ray task failed: {type(cause).__name__}: {cause}") from None
    except ray.exceptions.RayActorError as exc:
        raise ClusterError(f"a Ray actor died: {str(exc).splitlines()[0]}") from None
    except ray.exceptions.GetTimeoutError:
        raise ClusterError(f"no result from Ray within {timeout:.0f} s") from None


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


DIRECT_PORT_SPAN = 10  # ports a replica may take while an older one still drains during a redeploy


def serve_direct_env(direct_port: int) -> dict[str, str]:
    """Environment that turns on Ray Serve's throughput-optimised mode with direct ingress: each
    ingress replica runs its own HTTP server on a port from ``direct_port`` up, so a request is
    answered in the replica without the proxy hop; handles between deployments use gRPC, user
    code runs on the replica's event loop. The proxy keeps serving on its own port. Serve reads
    these when its processes start, so they must be set before Ray (``ray start`` or
    ``ray.init``) starts.

    The port stays put when a replica dies: Serve hands out the lowest free port of
    ``[MIN, MAX)`` (MAX itself is never used), but by default holds a dead replica's port out of
    the pool for 150 s (``RAY_SERVE_PORT_QUARANTINE_S``, sized for HAProxy workers, which Meridian
    does not run), so the replacement took the next port and kept it. With no quarantine the
    replacement rebinds ``direct_port``. Only a replica started while an older one still drains
    (a redeploy, for ``MIN_DRAINING_PERIOD_S``) takes a port above it."""
    return {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            # a replica being stopped keeps answering this long (Serve's default, 30 s, suits a
            # load balancer in front; here it would only hold up every redeploy and shutdown)
            "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": os.environ.get(
                "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2"),
            "RAY_SERVE_PORT_QUARANTINE_S": os.environ.get("RAY_SERVE_PORT_QUARANTINE_S", "0"),
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(direct_port),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(direct_port + DIRECT_PORT_SPAN)}


async def direct_ingress_urls(app_name: str) -> list[dict[str, str]]:
    """The direct-ingress URLs of ``app_name``'s running ingress replicas, as Serve's controller
    routes them (``get_target_groups``, what a load balancer in front of Serve reads): one
    ``{"url", "replica"}`` per replica, none while no replica runs or direct ingress is off.

    A replica's port can move: Serve binds it without SO_REUSEADDR, so a replacement for a
    replica killed under load fails to bind the old port while its connections sit in TIME_WAIT,
    and Serve then blocks that port for good and takes the next one. This is where to look."""
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    groups, http = await asyncio.gather(controller.get_target_groups.remote(app_name),
                                        controller.get_http_config.remote())
    out = []
    for g in groups:
        if str(getattr(g.protocol, "value", g.protocol)).upper() != "HTTP" or g.app_name != app_name:
            continue
        for t in g.targets:
            if t.name.startswith("SERVE_REPLICA::"):   # proxies stand in while no replica runs
                host = t.ip if http.host in ("0.0.0.0", "::", "", None) else http.host
                out.append({"url": f"http://{host}:{t.port}", "replica": t.name})
    return sorted(out, key=lambda d: d["url"])


def find_direct_ingress(host: str, direct_port: int, timeout: float = 20.0, instance: str = "") -> str | None:
    """The URL of the first ingress replica answering ``/health`` on a direct-ingress port (with
    ``instance``: only the one whose /health names that token, never another Meridian server on
    a port of the range), or None when none does within ``timeout``."""
    import time
    import urllib.error
    import urllib.request
    probe = "127.0.0.1" if host in ("0.0.0.0", "") else host
    deadline = time.monotonic() + timeout
    while True:
        for port in range(direct_port, direct_port + DIRECT_PORT_SPAN):
            url = f"http://{probe}:{port}"
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    body = json.loads(r.read())
                if isinstance(body, dict) and "models_loaded" in body and (  # Meridian's, and this one
                        not instance or body.get("instance") == instance):
                    return f"http://{host}:{port}"
            except (urllib.error.URLError, OSError, ValueError):
                continue
        if time.monotonic() > deadline:
            return None
        time.sleep(0.5)
