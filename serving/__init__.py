"""Ray Serve application: HTTP API, model and ensemble deployments."""
