"""Honest evaluation: time-ordered splits with purge and embargo, and out-of-sample metrics."""
