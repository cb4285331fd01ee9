"""5,000 hourly bars of real data (SOLUSDT, with BTC/ETH/BNB and 1/EURUSD as peers) plus a
generated macro, news and order-flow context: the input of the streaming parity test."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from pipelines.features.spec import FeatureContext
from tests.synthetic.bars import synthetic_context

DEV_BARS = 5000
BASE = "crypto_binance_spot_1h"


def _load(shared: Path, rel: str, asset_class: str, tz: str | None = "UTC") -> pd.DataFrame:
    from pipelines.sources.files import import_bars
    return import_bars(shared / rel, asset_class=asset_class, tz=tz).bars


def dev_market(shared: Path, n: int = DEV_BARS) -> tuple[pd.DataFrame, FeatureContext]:
    sol = _load(shared, f"{BASE}/SOLUSDT_1h.csv.gz", "crypto")
    start = pd.Timestamp("2021-06-01", tz="UTC")
    subject = sol[sol["ts"] >= start].head(n).reset_index(drop=True)
    end = subject["known_at"].iloc[-1] + pd.Timedelta(days=3)

    def window(df: pd.DataFrame) -> pd.DataFrame:
        return df[(df["ts"] >= start - pd.Timedelta(days=30)) & (df["ts"] < end)].reset_index(drop=True)

    eur = _load(shared, "forex_dukascopy_1h/EURUSD_Candlestick_1_Hour_BID_01.07.2020-15.07.2023.csv.gz", "forex",
                tz=None)
    dxy = eur.copy()
    for c in ("open", "close"):
        dxy[c] = 1.0 / eur[c]
    dxy["high"], dxy["low"] = 1.0 / eur["low"], 1.0 / eur["high"]
    peers = {"btc": window(_load(shared, f"{BASE}/BTCUSDT_1h.csv.gz", "crypto")),
             "sector": window(_load(shared, f"{BASE}/ETHUSDT_1h.csv.gz", "crypto")),
             "spy": window(_load(shared, f"{BASE}/BNBUSDT_1h.csv.gz", "crypto")),
             "dxy": window(dxy)}
    gen = synthetic_context(subject, seed=7)   # macro releases, news, order book and trades
    ctx = replace(gen, symbol="SOLUSDT", asset_class="crypto", timeframe="1h", peers=peers)
    return subject, ctx
