"""Model names on the command line -> forecaster classes (imported lazily).

Each model family package declares ``MODELS = {"name": "module:Class", ...}`` in its
``__init__.py``; this module merges them, so adding a model touches only its own family."""

from __future__ import annotations

import importlib
from functools import lru_cache

from pipelines.errors import ModelError

FAMILIES = ("models.tabular", "models.ensembles", "models.sequence", "models.graph", "models.rl")


@lru_cache(maxsize=None)
def all_models() -> dict[str, str]:
    out: dict[str, str] = {}
    for fam in FAMILIES:
        for name, target in getattr(importlib.import_module(fam), "MODELS", {}).items():
            if name in out:
                raise ModelError(f"model name {name!r} declared twice ({out[name]}, {target})")
            out[name] = target
    return out


def model_class(name: str):
    models = all_models()
    try:
        target = models[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}: one of {', '.join(sorted(models))}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, params: dict | None = None):
    return model_class(name)(**(params or {}))


def load(path, expected_features: list[str] | None = None):
    """Load any saved model from its self-describing folder (``meta.json`` names the model);
    ``expected_features`` refuses an artifact trained on another feature list."""
    import json
    from pathlib import Path
    meta = Path(path) / "meta.json"
    if not meta.exists():
        raise ModelError(f"{path} is not a saved model (no meta.json)")
    name = json.loads(meta.read_text())["name"]
    return model_class(name).load(path, expected_features=expected_features)
