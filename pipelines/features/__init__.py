"""Causal features: a registry of specs (name, family, function, look-back) and the engine."""
