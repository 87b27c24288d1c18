"""Operation modules, one per area (demo, syncs, pipelines, queries...). Each registers its
operations with ``@driftline.server.ops.operation(name)``; all are loaded on first use."""
