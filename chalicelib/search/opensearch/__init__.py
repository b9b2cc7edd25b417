"""OpenSearch backend pieces. ``builders`` holds the pure request/mapping builders (no client, no network)."""
