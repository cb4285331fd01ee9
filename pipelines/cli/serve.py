"""``meridian serve``: run the Serve application locally until interrupted: the Serve proxy on
127.0.0.1:8000 and, by default, Serve's direct ingress, where the ingress replica answers on its
own port (8001) without the proxy hop. On the cluster use ``serve deploy
serving/serve-config.yaml`` instead (``cluster/start-head`` turns direct ingress on there)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import uuid

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve predictions, signals and the portfolio over HTTP (Ray Serve)")
    p.add_argument("--host", help="bind address (default: serving.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="the Serve proxy's port (default: serving.port, 8000)")
    p.add_argument("--direct-port", type=int,
                   help="first direct-ingress port of the ingress replicas (default: serving.direct_port, 8001)")
    p.add_argument("--no-direct", action="store_true",
                   help="serve through the Serve proxy only (no direct ingress)")
    p.add_argument("--read-requires-key", action="store_true", help="reads need X-API-Key too")
    p.add_argument("--options", default="{}",
                   help='serving options as JSON, e.g. \'{"min_confidence": 0.2, "ensemble": {"num_replicas": 2}}\'')
    p.add_argument("--name", default="meridian", help="Serve application name")
    p.add_argument("--json", action="store_true", help="print where it listens as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ray import serve

    import os

    import ray

    from cluster.runtime import DIRECT_PORT_SPAN, find_direct_ingress, init_ray, serve_direct_env, shutdown_ray
    from serving.app import compose
    from serving.config import ServeAppConfig, ServeOptions

    cfg = load_config(args.config)   # every location absolute under the Meridian home
    host = args.host or cfg.serving.host
    port = args.port or cfg.serving.port
    try:
        given = json.loads(args.options)
        if args.read_requires_key:
            given["read_requires_key"] = True
        options = ServeOptions.model_validate(given)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--options: {exc}") from None
    app_cfg = ServeAppConfig(meridian=cfg, options=options, instance=uuid.uuid4().hex)
    direct_port = None if args.no_direct else (args.direct_port or cfg.serving.direct_port)
    joining = bool(cfg.ray.address or os.environ.get("RAY_ADDRESS"))
    if direct_port and not joining and not ray.is_initialized():
        # Serve reads these when its processes start: a local Ray started here inherits them.
        # A cluster's head gets them from cluster/start-head.
        for k, v in serve_direct_env(direct_port).items():
            os.environ.setdefault(k, v)   # a user's RAY_SERVE_THROUGHPUT_OPTIMIZED=0 stays
    stop = threading.Event()
    init_ray(cfg.ray)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(compose(app_cfg), name=args.name, route_prefix="/")
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # after Ray's own handler: stop cleanly
        url = f"http://{host}:{port}"
        # a local Ray started here has direct ingress on; a cluster's head may or may not
        direct = (find_direct_ingress(host, direct_port, timeout=5.0 if joining else 20.0, instance=app_cfg.instance)
                  if direct_port else None)
        out = {"url": direct or url, "proxy_url": url, "direct_url": direct, "docs": f"{direct or url}/docs",
               "openapi": f"{direct or url}/openapi.json", "app": args.name,
               "instance": app_cfg.instance, "ingress": f"{url}/ingress", "ray_address": ray.get_runtime_context().gcs_address}
        if direct:
            text = (f"Meridian API on {direct} (direct to the ingress replica; docs: {direct}/docs) "
                    f"and through the Serve proxy on {url}; Ctrl-C stops it.\nThe direct port can move "
                    f"when Serve replaces the ingress replica (up to +{DIRECT_PORT_SPAN - 1}); the proxy's "
                    f"port does not, and {url}/ingress lists where the live replicas answer directly")
        else:
            why = " (direct ingress is off on this cluster: start the head with cluster/start-head)" \
                if direct_port else ""
            text = f"Meridian API on {url} (docs: {url}/docs){why}; Ctrl-C stops it"
        emit(out, args.json, text)
        sys.stdout.flush()
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    finally:
        try:
            serve.shutdown()
        finally:
            shutdown_ray()
    return 0
