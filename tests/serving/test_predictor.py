"""The predictor and service objects called directly (no HTTP): horizons, signals, a model that
fails mid-request, the memo per bar."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from models.registry import list_models
from pipelines.store import ParquetStore
from serving.config import ServeAppConfig, ServeOptions
from serving.errors import BadParameter, NotFound
from serving.local import local_service
from serving.market import MarketData
from serving.model_book import ModelBook
from serving.predictor import Predictor, horizon_label, parse_horizon, parse_horizons, signal_of


def test_horizons_parse_and_print():
    assert parse_horizon("1h") == 3600 and parse_horizon("24h") == parse_horizon("1d") == 86400
    assert horizon_label(86400) == "1d" and horizon_label(7200) == "2h" and horizon_label(900) == "15m"
    assert parse_horizons(" ") is None and parse_horizons("1h, 4h") == ["1h", "4h"]
    for bad in ("", "0h", "h", "1x", "1.5h", "-1h"):
        with pytest.raises(BadParameter):
            parse_horizon(bad)


def test_signal_rule():
    assert signal_of(0.002, 0.5, threshold=0.001, min_confidence=0.1) == "BUY"
    assert signal_of(-0.002, 0.5, threshold=0.001, min_confidence=0.1) == "SELL"
    assert signal_of(0.0005, 0.5, threshold=0.001, min_confidence=0.1) == "HOLD"
    assert signal_of(0.002, 0.05, threshold=0.001, min_confidence=0.1) == "HOLD"


def test_ensemble_answers_when_a_model_raises(serving_root):
    _, cfg, _ = serving_root
    store = ParquetStore(cfg.store.path)
    book = ModelBook(store).load()
    market = MarketData(store, cfg.features.feature_set, refresh_s=0)

    async def flaky(name, model_id, X):
        if name == "logistic":
            raise ConnectionError("replica gone")
        return book.predict(model_id, X)

    pred = Predictor(ServeOptions(), 0.0, market, list_models(store, "promoted"), flaky)
    out = asyncio.run(pred.predict("SPX"))
    h = out["horizons"][0]
    assert [m["name"] for m in h["models"]] == ["xgboost"] and h["models"][0]["weight"] == 1.0
    assert h["missing"] == [{"model_id": h["missing"][0]["model_id"], "name": "logistic",
                             "reason": "ConnectionError: replica gone"}]
    assert h["ensemble"]["expected_return"] == h["models"][0]["expected_return"]
    with pytest.raises(NotFound):
        asyncio.run(pred.predict("NOPE"))


def test_service_memo_follows_new_bars(serving_root, tmp_path):
    root, cfg, withheld = serving_root
    lake = tmp_path / "lake"
    src, dst = ParquetStore(cfg.store.path), ParquetStore(lake)
    for t in ("bars", "models"):
        dst.write(t, src.read(t))
    mcfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"path": str(lake)})})
    svc = local_service(ServeAppConfig(meridian=mcfg, options=ServeOptions(bars_refresh_s=0)))
    first = asyncio.run(svc.prediction("SPX", None))
    assert asyncio.run(svc.prediction("SPX", None)) is first  # same bar: from the memo
    dst.write("bars", withheld["SPX"].iloc[[0]])
    second = asyncio.run(svc.prediction("SPX", None))
    assert pd.Timestamp(second["horizons"][0]["ts"]) == withheld["SPX"]["ts"].iloc[0]


@pytest.mark.postgres
def test_service_over_postgres(serving_root, pg_dsn):
    import uuid

    from pydantic import SecretStr

    from pipelines.store.postgres import PostgresStore
    _, cfg, _ = serving_root
    schema = f"t_{uuid.uuid4().hex[:10]}"
    pg = PostgresStore(pg_dsn, schema=schema)
    try:
        src = ParquetStore(cfg.store.path)
        for t in ("bars", "models"):
            pg.write(t, src.read(t))
        pcfg = cfg.model_copy(update={"store": cfg.store.model_copy(
            update={"backend": "postgres", "dsn": SecretStr(pg_dsn), "schema_name": schema})})
        svc = local_service(ServeAppConfig(meridian=pcfg))
        offline = asyncio.run(local_service(ServeAppConfig(meridian=cfg)).prediction("SPX", None))
        out = asyncio.run(svc.prediction("SPX", None))
        assert out["horizons"][0]["ts"] == offline["horizons"][0]["ts"]
        assert out["horizons"][0]["ensemble"] == pytest.approx(offline["horizons"][0]["ensemble"])
        assert asyncio.run(svc.health())["store"] == "postgres"
    finally:
        pg.drop_schema()
        pg.close()


def test_service_survives_a_dead_prediction_side(serving_root):
    from serving.errors import Unavailable
    from serving.service import MeridianService
    _, cfg, _ = serving_root

    async def down(*_):
        raise ConnectionError("ensemble replica died")

    svc = MeridianService(ServeAppConfig(meridian=cfg), ParquetStore(cfg.store.path), down, down, down)
    health = asyncio.run(svc.health())
    # public: the kind of failure, not its text (which can carry addresses); the text is logged
    assert health["status"] == "degraded" and "unreachable (ConnectionError)" in health["models_missing"][0]
    with pytest.raises(Unavailable, match="did not answer"):
        asyncio.run(svc.prediction("SPX", None))
    with pytest.raises(NotFound):
        asyncio.run(svc.prediction("NOPE", None))


def test_concurrent_requests_at_a_new_bar_ask_the_models_once(serving_root):
    """Fifty clients asking at a bar's close share one computation; a later bar asks again;
    with the cache off every request asks; a failure reaches every waiter."""
    from serving.errors import Unavailable
    from serving.service import MeridianService
    _, cfg, _ = serving_root

    def counted(options):
        base = local_service(ServeAppConfig(meridian=cfg, options=options))
        calls = []

        async def predict(symbol, horizons, min_ts):
            calls.append(symbol)
            await asyncio.sleep(0.05)            # the models take a moment: the others arrive meanwhile
            return await base._predict(symbol, horizons, min_ts)

        return MeridianService(base.cfg, base.store, predict, base._load_status, base._reload), calls

    async def burst(svc, n):
        return await asyncio.gather(*(svc.prediction("SPX", None) for _ in range(n)))

    svc, calls = counted(ServeOptions())
    answers = asyncio.run(burst(svc, 50))
    assert len(calls) == 1 and all(a is answers[0] for a in answers)
    assert answers[0]["horizons"][0]["models"]

    svc, calls = counted(ServeOptions(cache_predictions=False))
    asyncio.run(burst(svc, 5))
    assert len(calls) == 5

    async def down(*_):
        await asyncio.sleep(0.05)
        raise ConnectionError("ensemble replica died")

    svc = MeridianService(ServeAppConfig(meridian=cfg), ParquetStore(cfg.store.path), down, down, down)

    async def failing_burst():
        return await asyncio.gather(*(svc.prediction("SPX", None) for _ in range(10)), return_exceptions=True)

    errs = asyncio.run(failing_burst())
    assert all(isinstance(e, Unavailable) and "did not answer" in str(e) for e in errs)
    assert svc._inflight == {}                   # nothing left pending: the next request tries again


def test_predict_many_is_one_call_per_model_and_answers_as_predict(serving_root):
    _, cfg, _ = serving_root
    store = ParquetStore(cfg.store.path)
    book = ModelBook(store).load()
    records = list_models(store, "promoted")
    symbols = sorted({s for r in records for s in r.symbols})
    calls: list[tuple[str, int]] = []

    async def one(name, model_id, X):
        return book.predict(model_id, X)

    async def many(name, model_id, X):
        calls.append((model_id, len(X)))
        return book.predict_many(model_id, X)

    single = Predictor(ServeOptions(cache_predictions=False), 0.0, MarketData(store, cfg.features.feature_set), records, one)
    batched = Predictor(ServeOptions(cache_predictions=False), 0.0, MarketData(store, cfg.features.feature_set), records,
                        one, call_many=many)
    got = asyncio.run(batched.predict_many({**{s: None for s in symbols}, "NOPE": None}))
    assert isinstance(got.pop("NOPE"), NotFound)
    assert got == {s: asyncio.run(single.predict(s)) for s in symbols}
    asked = {r.model_id: sum(1 for s in symbols if s in r.symbols) for r in records if r.kind == "forecaster"}
    assert sorted(calls) == sorted(asked.items())   # each model once, with every symbol's row
