"""The panel's configuration: where the Serve API is and the key for it. From the environment
(``MERIDIAN__DASHBOARD__API_URL``, ``MERIDIAN__DASHBOARD__API_KEY``, ...) so the panel never
needs the rest of Meridian's configuration, nor its code."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr

PREFIX = "MERIDIAN__DASHBOARD__"


class DashboardConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_url: str = Field("http://127.0.0.1:8000", description="base URL of the Serve HTTP API")
    api_key: SecretStr | None = Field(None, description="sent as X-API-Key when set")
    timeout_s: float = Field(5.0, gt=0, description="per-request timeout")
    refresh_s: int = Field(60, ge=5, description="automatic refresh period of live widgets")
    ray_dashboard_url: str = Field("http://127.0.0.1:8265", description="linked from the model monitor")


def load(environ: dict[str, str] | None = None) -> DashboardConfig:
    env = os.environ if environ is None else environ
    values = {k[len(PREFIX):].lower(): v for k, v in env.items() if k.startswith(PREFIX)}
    return DashboardConfig(**values)
