"""Causal features: a catalog of specs (name, family, function, look-back) and the engine.

- :mod:`.spec` what a feature is; :mod:`.catalog` every family module (``FAMILY_MODULES``) and
  the named sets ``core`` (the demo's), ``standard`` (all but GARCH and sample entropy) and
  ``full``; :mod:`.engine` computes a set for one symbol and drops warm-up rows by declaration.
- Families: :mod:`.momentum`, :mod:`.mean_reversion`, :mod:`.trend`, :mod:`.volume` (with order
  flow), :mod:`.volatility`, :mod:`.garch`, :mod:`.stats`, :mod:`.patterns`, :mod:`.alpha101`,
  :mod:`.session_features` (on :mod:`.sessions`), :mod:`.calendar`, :mod:`.cross_asset`,
  :mod:`.macro`; the universe stage (cross-sectional ranks, Alpha101) is :mod:`.universe`.
- :mod:`.causality` the prefix test and warm-up check (``meridian features causality-check``);
  :mod:`.store` the Parquet feature store with reuse and incremental append
  (``meridian features build``, :mod:`pipelines.jobs.features`); :mod:`.streaming` the
  row of a new bar from each spec's own trailing window, equal to the batch row.
"""
