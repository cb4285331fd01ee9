"""A one-replica Serve application that prints and logs the planted secrets it holds: a key of
its environment and the configuration's API key and DSN password (tests/cli/test_secrets.py
runs it)."""

from __future__ import annotations

import logging
import os
import sys

from ray import serve
from ray.serve import Application

from pipelines.config import MeridianConfig, load_config


@serve.deployment(ray_actor_options={"num_cpus": 0})
class Leaky:
    def __init__(self, cfg: MeridianConfig) -> None:
        self.cfg = cfg

    def __call__(self, request=None) -> int:
        held = (f"token={os.environ.get('FINNHUB_API_KEY', '')} "
                f"api_key={self.cfg.serving.api_key.get_secret_value()} "
                f"dsn={self.cfg.store.dsn.get_secret_value()}")
        print(f"replica printed {held}")
        print(f"replica stderr {held}", file=sys.stderr)
        logging.getLogger("ray.serve").warning("replica logged %s", held)
        return os.getpid()


def build(args: dict) -> Application:
    """The app builder a Serve config names, as serving.app:build_app: the configuration file
    is read where Serve builds the application."""
    return Leaky.bind(load_config(args["config"]))
