"""The Serve config file is valid for `serve deploy` and its args build the application."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.serve import Application
from ray.serve.schema import ServeDeploySchema

from serving.app import build_app
from serving.config import DeploymentOptions, ServeArgs

CONFIG = Path(__file__).resolve().parents[2] / "serving" / "serve-config.yaml"


def test_serve_config_file_builds_the_app(serving_root):
    raw = yaml.safe_load(CONFIG.read_text())
    schema = ServeDeploySchema.model_validate(raw)
    app = schema.applications[0]
    assert app.import_path == "serving.app:build_app" and app.route_prefix == "/"
    args = ServeArgs.model_validate(app.args)
    assert args.options.ingress.num_cpus == 0.0 and args.options.model.num_cpus < 1
    _, cfg, _ = serving_root
    built = build_app({**app.args, "overrides": {"store": {"path": cfg.store.path}}})
    assert isinstance(built, Application)


def test_serve_config_runs_the_secret_scrubbing_hook():
    """Every worker of the deployed application runs Meridian's worker setup hook, named the one
    way Ray 2.60 honours in a Serve application's runtime_env (its own variable for a job's hook;
    a `worker_process_setup_hook` field there is ignored): tests/cli/test_secrets.py deploys it."""
    from ray._private import ray_constants

    from cluster.runtime import WORKER_SETUP_HOOK
    app = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text())).applications[0]
    assert app.runtime_env["env_vars"] == {ray_constants.WORKER_PROCESS_SETUP_HOOK_ENV_VAR: WORKER_SETUP_HOOK}


def test_deployment_options_budget():
    fixed = DeploymentOptions(num_replicas=2, num_cpus=0.25).serve_kwargs({"num_cpus": 0.25})
    assert fixed["num_replicas"] == 2 and fixed["ray_actor_options"] == {"num_cpus": 0.25}
    auto = DeploymentOptions(num_replicas=1, autoscale_max_replicas=3).serve_kwargs({"num_cpus": 0.0})
    assert "num_replicas" not in auto
    assert auto["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 8.0}
