"""Graph forecasters over the correlation graph of a universe."""

MODELS: dict[str, str] = {}
