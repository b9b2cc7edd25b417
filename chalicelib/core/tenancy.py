"""Which source objects a tenant may read: the rule that keeps one workspace (or project) out of another's documents.

Identifiers keep tenants apart inside Sift, but a source URI names an object in a bucket the service's role can
read, and without a rule any caller could index any of them into its own index. With ``tenant_prefixes`` on (the AWS
stages: ``SIFT_TENANT_PREFIXES=true``), an object Sift reads for a tenant must lie under that tenant's own prefix,
``s3://<bucket>/<WorkspaceId>/…`` for a knowledge base and ``s3://<bucket>/<ProjectName>/…`` for a dataset. Off on
the local stage, whose sources are the user's own files.
"""

from __future__ import annotations

from urllib.parse import urlparse

from chalicelib.api.errors import InvalidParameterError

_BUCKET_SCHEMES = frozenset({"s3", "oss"})


class SourcePolicy:
    def __init__(self, *, tenant_prefixes: bool = False) -> None:
        self._tenant_prefixes = tenant_prefixes

    @property
    def enforced(self) -> bool:
        return self._tenant_prefixes

    def allows(self, tenant: str, uri: str, *, workspace: bool = False) -> bool:
        """Whether ``tenant`` may read ``uri`` (an object or a prefix). A data-center file (``datacenter://``) is read
        only by its own workspace (``workspace``: the tenant is a WorkspaceId), on every stage; never by a media
        project, whose names share no namespace with workspaces."""
        parsed = urlparse(uri)
        if parsed.scheme == "datacenter":
            return workspace and parsed.netloc == tenant
        if not self._tenant_prefixes:
            return True
        if parsed.scheme not in _BUCKET_SCHEMES or not parsed.netloc:
            return False
        return parsed.path.lstrip("/").startswith(f"{tenant}/")

    def check(self, tenant: str, uri: str, field: str, *, workspace: bool = False) -> None:
        """Refuse (400 on ``field``) a source ``tenant`` may not read."""
        if not self.allows(tenant, uri, workspace=workspace):
            raise InvalidParameterError(
                field, f"must lie under s3://<bucket>/{tenant}/ on this deployment: each tenant reads only its prefix"
            )
