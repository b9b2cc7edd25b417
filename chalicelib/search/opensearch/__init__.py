"""OpenSearch backend pieces: ``backend`` (the ``SearchBackend``), ``flavours`` (managed cluster or Serverless
collection), ``indices`` (names and the shared chunk writes), ``recall``, ``errors`` and ``client``; ``mapping``,
``queries`` and ``builders`` hold the pure request/mapping builders (no client, no network)."""
