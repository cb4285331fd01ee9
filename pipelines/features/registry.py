"""The feature registry: every spec of every family, and the named sets the pipeline uses."""

from __future__ import annotations

import hashlib
import importlib
from functools import lru_cache

from pipelines.features.spec import FeatureSpec

# Family modules, each exposing FEATURES: tuple[FeatureSpec, ...]. Adding a family = one line here.
FAMILY_MODULES: tuple[str, ...] = (
    "pipelines.features.core",
)

FEATURE_SETS: dict[str, tuple[str, ...] | None] = {
    "core": ("pipelines.features.core",),
    "full": None,  # every family module
}


@lru_cache(maxsize=None)
def _module_specs(module: str) -> tuple[FeatureSpec, ...]:
    return tuple(importlib.import_module(module).FEATURES)


def all_specs() -> tuple[FeatureSpec, ...]:
    specs = tuple(s for m in FAMILY_MODULES for s in _module_specs(m))
    seen: dict[str, str] = {}
    for s in specs:
        for col in s.columns:
            if col in seen:
                raise ValueError(f"feature column {col!r} defined twice ({seen[col]} and {s.name})")
            seen[col] = s.name
    return specs


def feature_set(name: str) -> tuple[FeatureSpec, ...]:
    """The specs of a named set ('core', 'full')."""
    if name not in FEATURE_SETS:
        raise KeyError(f"unknown feature set {name!r}: one of {', '.join(FEATURE_SETS)}")
    modules = FEATURE_SETS[name]
    if modules is None:
        return all_specs()
    return tuple(s for m in modules for s in _module_specs(m))


def columns_of(specs: tuple[FeatureSpec, ...]) -> list[str]:
    return [c for s in specs for c in s.columns]


def feature_hash(columns: list[str] | tuple[str, ...]) -> str:
    """Identifies a feature list (order matters: models consume columns by position)."""
    return hashlib.sha256("\n".join(columns).encode()).hexdigest()[:16]
