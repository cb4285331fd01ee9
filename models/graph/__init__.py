"""Graph forecasters over the correlation graph of a universe."""

MODELS: dict[str, str] = {}
# forecasters over a panel of symbols (fit(X: symbol -> frame, y: symbol -> series)); not tabular
PANEL_MODELS = {"gnn": "models.graph.gnn:GraphForecaster"}
