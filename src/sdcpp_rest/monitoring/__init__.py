"""Prometheus metrics: the per-app registry, its listener on the event bus, the HTTP middleware."""
