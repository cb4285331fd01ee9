"""Reinforcement-learning agents and their trading environment."""

MODELS: dict[str, str] = {}
