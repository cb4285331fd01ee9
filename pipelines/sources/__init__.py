"""Data sources: each converts a provider's format to the canonical records at the edge."""
