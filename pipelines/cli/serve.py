"""``meridian serve``: run the Serve application locally (127.0.0.1:8000 by default) until
interrupted. On the cluster use ``serve deploy serving/serve-config.yaml`` instead."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from pipelines.cli import emit
from pipelines.config import load_config
from pipelines.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve predictions, signals and the portfolio over HTTP (Ray Serve)")
    p.add_argument("--host", help="bind address (default: serving.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: serving.port, 8000)")
    p.add_argument("--read-requires-key", action="store_true", help="reads need X-API-Key too")
    p.add_argument("--options", default="{}",
                   help='serving options as JSON, e.g. \'{"min_confidence": 0.2, "ensemble": {"num_replicas": 2}}\'')
    p.add_argument("--name", default="meridian", help="Serve application name")
    p.add_argument("--json", action="store_true", help="print where it listens as JSON")
    p.set_defaults(func=run)


def _absolute_store(cfg):
    """Replicas run in other processes: give them an absolute lake path."""
    if cfg.store.backend == "parquet" and not Path(cfg.store.path).is_absolute():
        store = cfg.store.model_copy(update={"path": str(Path(cfg.store.path).resolve())})
        return cfg.model_copy(update={"store": store})
    return cfg


def run(args: argparse.Namespace) -> int:
    from ray import serve

    from cluster.runtime import init_ray, shutdown_ray
    from serving.app import compose
    from serving.config import ServeAppConfig, ServeOptions

    cfg = _absolute_store(load_config(args.config))
    host = args.host or cfg.serving.host
    port = args.port or cfg.serving.port
    try:
        given = json.loads(args.options)
        if args.read_requires_key:
            given["read_requires_key"] = True
        options = ServeOptions.model_validate(given)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--options: {exc}") from None
    app_cfg = ServeAppConfig(meridian=cfg, options=options)
    stop = threading.Event()
    init_ray(cfg.ray)
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(compose(app_cfg), name=args.name, route_prefix="/")
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # after Ray's own handler: stop cleanly
        url = f"http://{host}:{port}"
        emit({"url": url, "docs": f"{url}/docs", "openapi": f"{url}/openapi.json", "app": args.name},
             args.json, f"Meridian API on {url} (docs: {url}/docs); Ctrl-C stops it")
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
