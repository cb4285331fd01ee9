"""Graph forecasters over the correlation graph of a universe: panel models (``consumes =
"panel"``), fitted on rows (ts, symbol) by the panel walk-forward."""

MODELS = {"gnn": "models.graph.gnn:GraphForecaster"}
