"""Tabular forecasters (one model per file)."""

MODELS = {
    "xgboost": "models.tabular.xgboost:XGBoostForecaster",
}
