"""Market regimes (HMM)."""
