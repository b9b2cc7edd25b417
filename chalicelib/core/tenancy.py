"""Which source objects a tenant may read: the rule that keeps one workspace (or project) out of another's documents.

Identifiers keep tenants apart inside Sift, but a source URI names an object in a bucket the service's role can
read, and without a rule any caller could index any of them into its own index. With ``tenant_prefixes`` on (the AWS
stages: ``SIFT_TENANT_PREFIXES=true``), an object Sift reads for a tenant must lie under that tenant's own prefix,
``s3://<bucket>/<WorkspaceId>/…`` for a knowledge base and ``s3://<bucket>/<ProjectName>/…`` for a dataset. Off on
the local stage, whose sources are the user's own files.
"""

from __future__ import annotations

from urllib.parse import urlparse

from chalicelib.core.errors import InvalidParameterError

_BUCKET_SCHEMES = frozenset({"s3", "oss"})


class SourcePolicy:
    """``local_files``: whether a tenant may name files of the server's own disk (``file://`` or a plain path). True
    on an open local stage, whose only user is the laptop's owner; False as soon as callers are told apart by access
    keys, since any of them could otherwise read every other tenant's data (and the server's files)."""

    def __init__(self, *, tenant_prefixes: bool = False, local_files: bool = True) -> None:
        self._tenant_prefixes = tenant_prefixes
        self._local_files = local_files

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
        if parsed.scheme in ("", "file") and not self._local_files:
            return False
        if not self._tenant_prefixes:
            return True
        if parsed.scheme not in _BUCKET_SCHEMES or not parsed.netloc:
            return False
        return parsed.path.lstrip("/").startswith(f"{tenant}/")

    def check(self, tenant: str, uri: str, field: str, *, workspace: bool = False) -> None:
        """Refuse (400 on ``field``) a source ``tenant`` may not read."""
        if not self.allows(tenant, uri, workspace=workspace):
            if urlparse(uri).scheme in ("", "file"):
                raise InvalidParameterError(field, "cannot name the server's own files on a stage with access keys")
            raise InvalidParameterError(
                field, f"must lie under s3://<bucket>/{tenant}/ on this deployment: each tenant reads only its prefix"
            )
