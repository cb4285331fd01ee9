"""Ensembles: combiners over out-of-sample predictions (``combine``) and the regime-switching
forecaster, which runs through the walk-forward like any other model."""

MODELS = {
    "regime_switch": "models.ensembles.regime_switch:RegimeSwitchForecaster",
}
