"""Trained sentiment models on disk: one folder per version under the models folder,
``<models>/sentiment/<name>/<version>/`` holding ``model.joblib`` and ``card.json`` (the model
card: data and its digest, split, parameters, metrics, library versions, file hash).

The models folder is the project's (``MeridianConfig.models_dir``, under the Meridian home), as
the training and tuning jobs use. A version is ``<UTC time>-<hash>``, so the newest sorts last; loading by name takes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipelines.errors import ModelError

DEFAULT_NAME = "finance-linear"
MODEL_FILE, CARD_FILE = "model.joblib", "card.json"


def sentiment_dir(models: str | Path, name: str = DEFAULT_NAME) -> Path:
    return Path(models) / "sentiment" / name


@dataclass(frozen=True)
class TrainedArtifact:
    """A loaded model with its card and where it came from."""

    model: object
    card: dict
    path: Path

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def version(self) -> str:
        return self.card["version"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_artifact(model, card: dict, models: str | Path, name: str = DEFAULT_NAME) -> Path:
    """Write a new version; returns its folder. The card gets name, version, created_at and the
    model file's sha256 (checked on load)."""
    import joblib

    created = pd.Timestamp.now(tz="UTC")
    digest = hashlib.sha256(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()[:10]
    version = f"{created:%Y%m%dT%H%M%SZ}-{digest}"
    dest = sentiment_dir(models, name) / version
    dest.mkdir(parents=True, exist_ok=False)
    joblib.dump(model, dest / MODEL_FILE)
    full = {**card, "name": name, "version": version, "created_at": created.isoformat(),
            "model_sha256": _sha256(dest / MODEL_FILE)}
    (dest / CARD_FILE).write_text(json.dumps(full, indent=2, sort_keys=True, default=str))
    return dest


def versions(models: str | Path, name: str = DEFAULT_NAME) -> list[str]:
    """The saved versions of ``name``, oldest first."""
    root = sentiment_dir(models, name)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / CARD_FILE).is_file() and (p / MODEL_FILE).is_file())


def resolve(models: str | Path, name: str = DEFAULT_NAME, version: str | None = None,
            path: str | Path | None = None) -> Path:
    """The artifact folder: ``path`` when given, else the asked or newest version of ``name``."""
    if path:
        p = Path(path).expanduser()
        if not (p / CARD_FILE).is_file():
            raise ModelError(f"no trained sentiment model at {p} ({CARD_FILE} missing): give a folder "
                             f"written by `meridian sentiment train`")
        return p
    found = versions(models, name)
    if not found:
        raise ModelError(f"no trained sentiment model {name!r} under {sentiment_dir(models, name)}: run "
                         f"`meridian sentiment train` (Financial PhraseBank) or choose --model vader")
    if version is None:
        return sentiment_dir(models, name) / found[-1]
    if version not in found:
        raise ModelError(f"{name!r} has no version {version!r}; saved: {', '.join(found)}")
    return sentiment_dir(models, name) / version


def load_artifact(models: str | Path, name: str = DEFAULT_NAME, version: str | None = None,
                  path: str | Path | None = None) -> TrainedArtifact:
    """Load a version (default: the newest), refusing a model file that does not match its card."""
    import joblib

    folder = resolve(models, name, version, path)
    card = json.loads((folder / CARD_FILE).read_text())
    mfile = folder / MODEL_FILE
    if not mfile.is_file():
        raise ModelError(f"{folder} has a card but no {MODEL_FILE}: train again")
    if card.get("model_sha256") != _sha256(mfile):
        raise ModelError(f"{mfile} does not match the sha256 in its card: the file was changed; train again")
    return TrainedArtifact(joblib.load(mfile), card, folder)
