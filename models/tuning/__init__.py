"""Hyperparameter searches with Ray Tune for tabular and deep forecasters."""
