"""HTTP routers, one per area of the API; thin: parse, authorize, call a service, shape the reply."""
