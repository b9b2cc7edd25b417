"""Sealing access-key secrets for storage (``chalicelib.core.access_keys.SecretBox``): a local master key or KMS."""
