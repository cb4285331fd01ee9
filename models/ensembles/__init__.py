"""Ensembles of forecasters."""
