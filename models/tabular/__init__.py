"""Tabular forecasters (one model per file). ``catboost`` is an optional extra: without the
package, asking for it raises a ModelError that says how to install it."""

MODELS = {
    "xgboost": "models.tabular.xgboost:XGBoostForecaster",
    "lightgbm": "models.tabular.lightgbm:LightGBMForecaster",
    "catboost": "models.tabular.catboost:CatBoostForecaster",
    "random_forest": "models.tabular.random_forest:RandomForestForecaster",
    "logistic": "models.tabular.logistic:LogisticForecaster",
    "svm": "models.tabular.svm:SVMForecaster",
}
