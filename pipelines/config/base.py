"""What every configuration section shares: the frozen base, the field-by-field merge of partial
values over defaults, and the reading of ``PREFIX__SECTION__KEY`` environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from pydantic_settings import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from pipelines import secrets


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``, mapping by mapping: a nested key given in ``over`` replaces only itself."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


class Frozen(BaseModel):
    """A configuration section: immutable once built, and a key it does not declare is an error.

    A partial mapping given for a nested section is merged over that field's own default, so
    ``{"ensemble": {"num_replicas": 2}}`` keeps the ensemble's other defaults instead of
    rebuilding the section from its class defaults.

    Its :class:`SecretStr` fields (an API key, a DSN) are registered with
    :mod:`pipelines.secrets` when the section is built and when it is unpickled: whatever process
    holds the configuration (the command, a Ray task or Serve replica it was sent to) masks them
    in what it prints and logs, though they were written only in the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any) -> None:
        self._register_secrets()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._register_secrets()

    def _register_secrets(self) -> None:
        secrets.register(*(v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr)))

    @model_validator(mode="before")
    @classmethod
    def _partial_over_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            given = out.get(name)
            if not isinstance(given, Mapping) or field.is_required():
                continue
            default = field.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                out[name] = deep_merge(default.model_dump(), given)
            elif isinstance(default, Mapping) and any(isinstance(v, BaseModel) for v in default.values()):
                out[name] = {k: deep_merge(default[k].model_dump(), v)
                             if isinstance(default.get(k), BaseModel) and isinstance(v, Mapping) else v
                             for k, v in deep_merge({k: d.model_dump() for k, d in default.items()}, given).items()}
        return out


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ``."""

    def __init__(self, model: type[BaseModel], prefix: str, environ: Mapping[str, str]) -> None:
        self._given = dict(environ)
        super().__init__(model, case_sensitive=False, env_prefix=prefix, env_nested_delimiter="__",
                         env_parse_none_str="null")

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._given, False, False, "null")


def read_environment(model: type[BaseModel], prefix: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """``PREFIX__A__B=value`` -> ``{"a": {"b": value}}`` for the fields of ``model`` (pydantic-settings:
    scalars stay text for pydantic to coerce, lists and mappings are JSON, ``null`` is None)."""
    return _Environment(model, prefix, environ)()
