"""The station in a fleet's telemetry plane: its live readings as a Prometheus target."""
