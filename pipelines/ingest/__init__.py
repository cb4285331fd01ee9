"""Ingestion: market data from every free source into the store, as Ray actors on the head node.

- :mod:`~pipelines.ingest.backfill` pages history into the store, checkpointing the last closed
  bar per source/symbol/timeframe (``checkpoints`` table), so a restart resumes with no hole and
  no duplicate; :mod:`~pipelines.ingest.trades` does the same for Binance aggregate trades.
- :mod:`~pipelines.ingest.live` follows the Binance kline/depth streams, writes closed bars only,
  fills gaps over REST after a disconnect and publishes each new bar
  (:mod:`~pipelines.ingest.pubsub`).
- :mod:`~pipelines.ingest.scheduler` runs the periodic polls of :mod:`~pipelines.ingest.polls`
  (polled bars, order books, news, social sentiment, FRED, CoinGecko, on-chain).
- :mod:`~pipelines.ingest.actors` and :mod:`~pipelines.ingest.service` wrap these as restartable
  actors; :mod:`~pipelines.ingest.commands` is ``meridian ingest`` and
  ``python -m pipelines.jobs.ingest``:

    meridian ingest backfill --source binance --symbols BTCUSDT,ETHUSDT --timeframe 1h --since 2019-01-01
    meridian ingest trades --symbols BTCUSDT --since 2024-06-01
    meridian ingest live --config prod.yaml --with-schedule
    meridian ingest poll --job macro --json
    meridian ingest checkpoints --json

Provider URLs and limits live in ``ingest.sources`` (:class:`~pipelines.config.sources.SourcesConfig`);
API keys come from the environment variables named there.
"""
