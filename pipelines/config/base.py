"""The base every configuration section derives from: typed, frozen, unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """A configuration section: immutable once built, and a key it does not declare is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)
