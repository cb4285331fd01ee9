"""Where Ray is reached and where work is placed (head vs GPU worker)."""
