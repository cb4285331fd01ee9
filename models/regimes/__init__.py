"""Market regime detection (Gaussian HMM fitted on training windows only)."""
