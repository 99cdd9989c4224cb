"""The durable job queue: records, store, scheduler."""
