"""The serving configuration: the Meridian configuration the replicas read (store, features,
trading rule, API key) plus the options of the Serve application itself (deployments, CPU
budget, caching, access to reads).

``ServeArgs`` is what a Serve config file's ``args:`` holds (``serve build`` style); the app
builder turns it into a :class:`ServeAppConfig`, which every deployment receives whole.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines.config.base import Frozen

from pipelines.config import MeridianConfig, load_config



class DeploymentOptions(Frozen):
    """Replicas and CPU budget of one deployment. Serve replicas take 1 CPU by default, which on a
    2-core head blocks everything else: fractions say what each really needs."""

    num_replicas: int = Field(1, ge=1, description="fixed replica count (ignored with autoscaling)")
    num_cpus: float = Field(0.0, ge=0, description="CPUs reserved per replica")
    max_ongoing_requests: int = Field(64, ge=1, description="concurrent requests per replica")
    autoscale_max_replicas: int | None = Field(
        None, ge=1, description="autoscale between num_replicas and this many replicas when set")
    target_ongoing_requests: float = Field(8.0, gt=0, description="autoscaling target per replica")
    graceful_shutdown_timeout_s: float | None = Field(
        None, ge=0, description="how long a stopping replica waits for open requests (None: Serve's 20 s); "
        "an open /stream never ends by itself, so the ingress waits only briefly")

    def serve_kwargs(self, actor_options: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for ``Deployment.options``."""
        kw: dict[str, Any] = {"max_ongoing_requests": self.max_ongoing_requests,
                              "ray_actor_options": actor_options}
        if self.graceful_shutdown_timeout_s is not None:
            kw["graceful_shutdown_timeout_s"] = self.graceful_shutdown_timeout_s
        if self.autoscale_max_replicas:
            kw["autoscaling_config"] = {
                "min_replicas": self.num_replicas,
                "max_replicas": max(self.autoscale_max_replicas, self.num_replicas),
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        else:
            kw["num_replicas"] = self.num_replicas
        return kw


class ServeOptions(Frozen):
    """How the application serves."""

    read_requires_key: bool = Field(False, description="reads need the API key too (writes always do)")
    history_bars: int | None = Field(
        None, gt=0, description="bars read per symbol for live features, raised to the longest look-back "
        "window of the feature set's specs; None = all stored")
    bars_refresh_s: float = Field(1.0, ge=0, description="how long read bars stay fresh before the store is asked again")
    cache_predictions: bool = Field(True, description="answer repeated requests for the same latest bar "
                                    "from memory; off, every request asks every model")
    stream_poll_s: float = Field(1.0, gt=0, description="how often WS /stream looks in the store for new bars "
                                 "when no live feed runs")
    live_bus: str | None = Field("meridian-bar-bus", description="bar bus actor the live ingestion publishes "
                                 "to: each closed bar is predicted and pushed on /stream as it is published; "
                                 "None: /stream only looks in the store")
    stream_fallback_s: float = Field(5.0, gt=0, description="with the live feed, how often /stream still looks "
                                     "in the store (bars that reached it another way)")
    paper_live: bool = Field(False, description="step every promoted strategy's paper account on every live "
                             "batch of bars, from the predictions the feed made")
    status_ttl_s: float = Field(5.0, ge=0, description="how long /health reuses the models' load status "
                                "(a reload or promote asks again at once)")
    min_confidence: float = Field(0.0, ge=0, le=1, description="below this ensemble confidence a signal is HOLD")
    panel_min_coverage: float = Field(0.8, gt=0, le=1, description="share of a panel model's universe whose "
                                      "rows the served cross-section must hold (at least two symbols); below "
                                      "it the model is not served and /health says why")
    access_log: bool = Field(False, description="log every request of every replica (costs latency)")
    tune_root: str | None = Field(None, description="folder of Tune experiments shown by GET /training")
    ingress: DeploymentOptions = DeploymentOptions(num_cpus=0.0, max_ongoing_requests=200,
                                                   graceful_shutdown_timeout_s=2.0)
    ensemble: DeploymentOptions = DeploymentOptions(num_cpus=0.1, max_ongoing_requests=200)
    model: DeploymentOptions = DeploymentOptions(num_cpus=0.1, max_ongoing_requests=200)


class ServeAppConfig(Frozen):
    meridian: MeridianConfig = MeridianConfig()
    options: ServeOptions = ServeOptions()
    instance: str = Field("", description="token naming this running application in /health, so the "
                                          "command that started it finds its own server among others")

    @property
    def api_key(self) -> str | None:
        key = self.meridian.serving.api_key
        return key.get_secret_value() if key is not None else None


class ServeArgs(BaseModel):
    """Arguments of the app builder (``args:`` in a Serve config file)."""

    model_config = ConfigDict(extra="forbid")

    config: str | None = Field(None, description="Meridian YAML file (else $MERIDIAN_CONFIG, else defaults)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Meridian config overrides")
    options: ServeOptions = ServeOptions()

    def resolve(self) -> ServeAppConfig:
        return ServeAppConfig(meridian=load_config(self.config, overrides=self.overrides or None),
                              options=self.options)
