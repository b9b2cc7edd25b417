"""Build the ``opensearchpy.OpenSearch`` client the backend is given: URL, authentication and timeouts.

Authentication modes (``SIFT_OPENSEARCH_AUTH``):
- ``sigv4-es``: AWS SigV4 for Amazon OpenSearch Service domains (service name ``es``);
- ``sigv4-aoss``: AWS SigV4 for OpenSearch Serverless collections (service name ``aoss``);
- ``basic``: user and password (self-hosted, fine-grained access control);
- ``none``: no authentication (a local single-node cluster, as in the contract tests).
"""

from __future__ import annotations

from typing import Any

from chalicelib.settings import OpenSearchConnection


def build_client(connection: OpenSearchConnection) -> Any:
    """The client; nothing is sent until the first request."""
    from opensearchpy import OpenSearch, RequestsHttpConnection

    options: dict[str, Any] = {
        "hosts": [connection.url],
        "timeout": connection.timeout_seconds,
        "use_ssl": connection.url.startswith("https"),
        "verify_certs": connection.url.startswith("https"),
        "connection_class": RequestsHttpConnection,
    }
    if connection.auth == "basic":
        options["http_auth"] = (connection.user, connection.password)
    elif connection.auth.startswith("sigv4"):
        import boto3
        from opensearchpy import RequestsAWSV4SignerAuth

        credentials = boto3.Session().get_credentials()
        service = connection.auth.removeprefix("sigv4-")
        options["http_auth"] = RequestsAWSV4SignerAuth(credentials, connection.region, service)
    return OpenSearch(**options)
