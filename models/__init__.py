"""Everything that learns: forecasters, regimes, agents, ensembles, training, registry."""
