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
