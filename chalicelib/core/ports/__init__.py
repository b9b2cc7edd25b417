"""The ports of the core: the records it passes and the protocols adapters implement (search backends, catalogs,
models, sources). Adapters import these; nothing here imports an adapter."""
