"""OpenAI's Images API under /v1: wire schemas, mapping onto the native requests, routes, errors."""
