"""Jobs: ``python -m pipelines.jobs.<name>`` locally or via ``ray job submit``."""
