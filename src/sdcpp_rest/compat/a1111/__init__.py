"""AUTOMATIC1111's /sdapi/v1 API: wire schemas, mapping onto the native requests, routes, errors."""
