"""Run reports: metrics.json and a self-contained HTML page."""
