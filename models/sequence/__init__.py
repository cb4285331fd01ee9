"""Deep sequence forecasters (PyTorch Lightning), one model per file."""

MODELS: dict[str, str] = {}
