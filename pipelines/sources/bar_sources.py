"""Bar sources by name, built from the providers' configuration."""

from __future__ import annotations

from pipelines.errors import ConfigError
from pipelines.sources.base import BarSource
from pipelines.config.sources import SourcesConfig

BAR_SOURCES = ("binance", "yahoo", "finnhub", "alphavantage", "twelvedata", "sample")


def bar_source(name: str, cfg: SourcesConfig) -> BarSource:
    """The client of one provider of historical bars."""
    if name == "binance":
        from pipelines.sources.binance import BinanceSource
        return BinanceSource(cfg.binance)
    if name == "yahoo":
        from pipelines.sources.yahoo import YahooSource
        return YahooSource(cfg.yahoo)
    if name == "finnhub":
        from pipelines.sources.finnhub import FinnhubSource
        return FinnhubSource(cfg.finnhub)
    if name == "alphavantage":
        from pipelines.sources.alphavantage import AlphaVantageSource
        return AlphaVantageSource(cfg.alphavantage)
    if name == "twelvedata":
        from pipelines.sources.twelvedata import TwelveDataSource
        return TwelveDataSource(cfg.twelvedata)
    if name == "sample":
        from pipelines.sources.sample_source import SampleSource
        return SampleSource()
    raise ConfigError(f"unknown bar source {name!r}: one of {', '.join(BAR_SOURCES)}")
