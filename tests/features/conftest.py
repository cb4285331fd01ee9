"""Inputs for the feature tests: a generated market with every optional input, and a slice of
real data (crypto 1h with real peers, EURUSD as the dollar proxy) from ../shared/data."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.features.spec import FeatureContext
from tests.synthetic.bars import synthetic_bars, synthetic_context, synthetic_macro

PREFIX_BARS = 480


@pytest.fixture(scope="session")
def generated():
    bars = synthetic_bars(PREFIX_BARS, seed=11, start="2022-02-28 05:00")
    return bars, synthetic_context(bars, seed=11)


def _load(shared, rel: str, asset_class: str, tz: str | None = "UTC") -> pd.DataFrame:
    from pipelines.sources.files import import_bars
    return import_bars(shared / rel, asset_class=asset_class, tz=tz).bars


@pytest.fixture(scope="session")
def real_market(shared_data):
    """SOLUSDT 1h (the subject), peers BTCUSDT, ETHUSDT (sector), BNBUSDT (market stand-in) and
    1/EURUSD (dollar proxy, with its real weekend gaps), all cut to one window."""
    base = "crypto_binance_spot_1h"
    sol = _load(shared_data, f"{base}/SOLUSDT_1h.csv.gz", "crypto")
    start = pd.Timestamp("2022-09-05", tz="UTC")
    subject = sol[sol["ts"] >= start].head(PREFIX_BARS).reset_index(drop=True)
    end = subject["known_at"].iloc[-1] + pd.Timedelta(days=3)

    def window(df):
        return df[(df["ts"] >= start - pd.Timedelta(days=30)) & (df["ts"] < end)].reset_index(drop=True)

    eur = _load(shared_data, "forex_dukascopy_1h/EURUSD_Candlestick_1_Hour_BID_01.07.2020-15.07.2023.csv.gz", "forex",
                tz=None)
    dxy = eur.copy()
    for c in ("open", "high", "low", "close"):
        dxy[c] = 1.0 / eur[c]
    dxy["high"], dxy["low"] = 1.0 / eur["low"], 1.0 / eur["high"]
    peers = {"btc": window(_load(shared_data, f"{base}/BTCUSDT_1h.csv.gz", "crypto")),
             "sector": window(_load(shared_data, f"{base}/ETHUSDT_1h.csv.gz", "crypto")),
             "spy": window(_load(shared_data, f"{base}/BNBUSDT_1h.csv.gz", "crypto")),
             "dxy": window(dxy)}
    macro = synthetic_macro(subject["ts"].iloc[0], subject["ts"].iloc[-1], seed=5)
    ctx = FeatureContext(symbol="SOLUSDT", asset_class="crypto", timeframe="1h", peers=peers, macro=macro)
    return subject, ctx
