"""Training: datasets, walk-forward runs as Ray tasks."""
