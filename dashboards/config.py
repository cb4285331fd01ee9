"""The panel's configuration: where the Serve API is and the key for it. From the environment
(``MERIDIAN__DASHBOARD__API_URL``, ``MERIDIAN__DASHBOARD__API_KEY``, ...), read by pydantic-settings
like the rest of Meridian's configuration, so the panel never needs Meridian's code."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "MERIDIAN__DASHBOARD__"


class DashboardConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True, case_sensitive=False)

    api_url: str = Field("http://127.0.0.1:8000", description="base URL of the Serve HTTP API")
    api_key: SecretStr | None = Field(None, description="sent as X-API-Key when set")
    timeout_s: float = Field(5.0, gt=0, description="per-request timeout")
    refresh_s: int = Field(60, ge=5, description="automatic refresh period of live widgets")
    ray_dashboard_url: str = Field("http://127.0.0.1:8265", description="linked from the model monitor")


def load() -> DashboardConfig:
    """The panel's settings from this process's environment."""
    return DashboardConfig()
