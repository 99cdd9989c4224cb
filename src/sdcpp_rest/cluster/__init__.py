"""Several processes and machines on one database: the workers table, its heartbeat, node names."""
