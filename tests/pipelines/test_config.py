from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.config import config_hash, load_config


def test_defaults_are_embedded_parquet_and_local_ray():
    cfg = load_config(environ={})
    assert cfg.store.backend == "parquet" and cfg.ray.address is None and cfg.ray.num_cpus == 2


def test_yaml_then_env_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("store:\n  backend: postgres\n  dsn: postgresql://u@h/db\nwalkforward:\n  horizon: 3\n")
    cfg = load_config(f, environ={"MERIDIAN__WALKFORWARD__HORIZON": "5"})
    assert cfg.store.backend == "postgres" and cfg.walkforward.horizon == 5
    assert cfg.store.dsn.get_secret_value() == "postgresql://u@h/db"
    assert "u@h" not in repr(cfg) and "u@h" not in str(cfg.model_dump(mode="json"))
    cfg2 = load_config(f, overrides={"walkforward": {"horizon": 7}}, environ={})
    assert cfg2.walkforward.horizon == 7


def test_unknown_keys_and_bad_values_are_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("store:\n  backend: parquet\n  colour: blue\n")
    with pytest.raises(ValidationError, match="colour"):
        load_config(f, environ={})
    with pytest.raises(ValidationError):
        load_config(environ={"MERIDIAN__WALKFORWARD__HORIZON": "0"})


def test_config_is_frozen_and_hash_is_stable():
    a, b = load_config(environ={}), load_config(environ={})
    assert config_hash(a) == config_hash(b)
    with pytest.raises(ValidationError):
        a.store.backend = "postgres"
    c = load_config(environ={"MERIDIAN__TRADING__FEE_BPS": "9"})
    assert config_hash(c) != config_hash(a)


def test_one_nested_field_keeps_its_siblings():
    """A nested override changes that field only: the provider keeps its key variable and limits,
    a deployment its CPU share and request cap."""
    cfg = load_config(environ={"MERIDIAN__INGEST__SOURCES__FINNHUB__BASE_URL": "http://127.0.0.1:9"})
    fh = cfg.ingest.sources.finnhub
    assert fh.base_url == "http://127.0.0.1:9"
    assert fh.api_key_env == "FINNHUB_API_KEY" and fh.per_minute == 60 and fh.per_second == 30
    from serving.config import ServeArgs, ServeOptions
    opts = ServeArgs.model_validate({"options": {"ensemble": {"num_replicas": 2}}}).options
    assert opts.ensemble.num_replicas == 2
    assert opts.ensemble.num_cpus == ServeOptions().ensemble.num_cpus == 0.1
    assert opts.ensemble.max_ongoing_requests == 200


def test_environment_values_are_read_against_the_fields_types():
    cfg = load_config(environ={"MERIDIAN__MODELS__NAMES": '["xgboost", "lightgbm"]',
                               "MERIDIAN__RAY__NUM_GPUS": "null", "MERIDIAN__SERVING__DIRECT_PORT": "8101",
                               "MERIDIAN__DASHBOARD__API_URL": "http://127.0.0.1:9999"})
    assert cfg.models.names == ("xgboost", "lightgbm") and cfg.ray.num_gpus is None
    assert cfg.serving.direct_port == 8101


def test_locations_resolve_under_the_meridian_home(tmp_path):
    home = tmp_path / "home"
    cfg = load_config(environ={}, overrides={"home": str(home)})
    assert cfg.store.path == str(home / "lake") and cfg.features.store_path == str(home / "features")
    assert cfg.report_dir == str(home / "reports") and cfg.models_dir == home / "models"
    absolute = load_config(environ={}, overrides={"home": str(home), "store": {"path": str(tmp_path / "x")}})
    assert absolute.store.path == str(tmp_path / "x")
    # where things live is not what a run computes: the hash ignores it
    assert config_hash(cfg) == config_hash(load_config(environ={}, overrides={"home": str(tmp_path / "other")}))


def test_a_bad_configuration_is_one_line_naming_the_key(tmp_path):
    import subprocess
    import sys
    f = tmp_path / "c.yaml"
    f.write_text("store:\n  colour: blue\nwalkforward:\n  horizon: 0\n")
    out = subprocess.run([sys.executable, "-m", "pipelines.cli", "--config", str(f), "models", "list"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "store.colour: unknown key" in lines[0] and "walkforward.horizon" in lines[0]
