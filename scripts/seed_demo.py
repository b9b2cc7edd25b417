"""Create and index the demo knowledge base (WorkspaceId ws_demo, IndexId kb_demo) from examples/docs, and print a
demo access key for it.

Idempotent: unchanged files are skipped, so `make run` re-seeds in a second. The demo key is made anew each run (the
previous one revoked): a secret is shown only when it is created. It is needed once the server runs with
``SIFT_AUTH=accesskey``; the local stage's default, ``SIFT_AUTH=none``, answers without one.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from chalicelib.composition import build_access_keys, build_services
from chalicelib.core.access_keys import AccessKeys, Level
from chalicelib.settings import Settings

WORKSPACE_ID = "ws_demo"
INDEX_ID = "kb_demo"
DOCS = Path(__file__).resolve().parent.parent / "examples" / "docs"
DEMO_KEY = "demo key (make run)"


def main() -> int:
    settings = Settings.from_environment()
    # The operator seeds from the repository's own files, which a stage with access keys refuses to its tenants.
    services = build_services(dataclasses.replace(settings, auth="none"))
    service = services.knowledge_bases
    existing = service.find(WORKSPACE_ID, INDEX_ID)
    if existing is None:
        service.create(
            WORKSPACE_ID, name="Larkspur Outdoor demo", index_id=INDEX_ID, source_uri=DOCS.as_uri() + "/",
            description="Example documents in English and Chinese (examples/docs)",
        )
    if existing is not None and existing.embedding_model != service.embedding_model:
        # Built with another embedder (SIFT_EMBEDDER changed, or an older default): rebuilt with this one.
        print(f"  rebuilding the demo index: embedded with {existing.embedding_model}, now {service.embedding_model}")
        job = services.reindex.reindex(WORKSPACE_ID, INDEX_ID)
    else:
        job = services.jobs.submit_job(WORKSPACE_ID, INDEX_ID, None)
    for document in job.documents:
        print(f"  {document.status:<7} {document.name} {document.message}")
    print(f"demo knowledge base {WORKSPACE_ID}/{INDEX_ID}: job {job.job_id} {job.status.value}")
    key_id, secret = demo_key(build_access_keys(settings))
    print(f"demo access key for {WORKSPACE_ID} (write; needed with SIFT_AUTH=accesskey): "
          f"AccessKeyId {key_id} AccessKeySecret {secret}")
    return 0 if job.status.value == "COMPLETED" else 1


def demo_key(keys: AccessKeys) -> tuple[str, str]:
    """A new demo key for the demo workspace; the previous demo keys are revoked (their secrets cannot be shown)."""
    for key in keys.list():
        if key.description == DEMO_KEY and not key.revoked:
            keys.revoke(key.key_id)
    key, secret = keys.create(level=Level.WRITE, workspaces=[WORKSPACE_ID], description=DEMO_KEY)
    return key.key_id, secret


if __name__ == "__main__":
    sys.exit(main())
