"""Prometheus metrics: the per-app registry, the scheduler listener feeding it, the HTTP middleware."""
