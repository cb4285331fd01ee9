"""The feature catalog: every spec of every family, and the named sets the pipeline uses."""

from __future__ import annotations

import hashlib
import importlib
from functools import lru_cache

from pipelines.features.spec import FeatureSpec

# Family modules, each exposing FEATURES: tuple[FeatureSpec, ...]. Adding a family = one line here.
FAMILY_MODULES: tuple[str, ...] = (
    "pipelines.features.core",
    "pipelines.features.momentum",
    "pipelines.features.mean_reversion",
    "pipelines.features.trend",
    "pipelines.features.volume",
    "pipelines.features.volatility",
    "pipelines.features.garch",
    "pipelines.features.stats",
    "pipelines.features.patterns",
    "pipelines.features.alpha101",
    "pipelines.features.session_features",
    "pipelines.features.calendar",
    "pipelines.features.cross_asset",
    "pipelines.features.macro",
    "pipelines.sentiment.features",
)

# Named sets: a tuple of family modules, or None for the whole catalog.
FEATURE_SETS: dict[str, tuple[str, ...] | None] = {
    "core": ("pipelines.features.core",),
    "full": None,  # every family module
    # everything but the refit-heavy GARCH family and the O(window^2) sample entropy
    "standard": tuple(m for m in FAMILY_MODULES if m != "pipelines.features.garch"),
}
# Specs left out of a set by name, on top of its modules.
SET_EXCLUDES: dict[str, frozenset[str]] = {
    "standard": frozenset({"entropy_sample"}),
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
    """The specs of a named set ('core', 'standard', 'full')."""
    if name not in FEATURE_SETS:
        raise KeyError(f"unknown feature set {name!r}: one of {', '.join(FEATURE_SETS)}")
    modules = FEATURE_SETS[name]
    specs = all_specs() if modules is None else tuple(s for m in modules for s in _module_specs(m))
    drop = SET_EXCLUDES.get(name, frozenset())
    return tuple(s for s in specs if s.name not in drop)


def columns_of(specs: tuple[FeatureSpec, ...]) -> list[str]:
    return [c for s in specs for c in s.columns]


def feature_hash(columns: list[str] | tuple[str, ...]) -> str:
    """Identifies a feature list (order matters: models consume columns by position)."""
    return hashlib.sha256("\n".join(columns).encode()).hexdigest()[:16]
