"""Data in -> store -> features -> labels -> evaluation -> trading, and the jobs that run them."""
