"""Create and index the demo knowledge base (WorkspaceId ws_demo, IndexId kb_demo) from examples/docs.

Idempotent: unchanged files are skipped, so `make run` re-seeds in a second.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chalicelib.composition import build_service
from chalicelib.settings import Settings

WORKSPACE_ID = "ws_demo"
INDEX_ID = "kb_demo"
DOCS = Path(__file__).resolve().parent.parent / "examples" / "docs"


def main() -> int:
    service = build_service(Settings.from_environment())
    if service.find(WORKSPACE_ID, INDEX_ID) is None:
        service.create(
            WORKSPACE_ID, name="Larkspur Outdoor demo", index_id=INDEX_ID, source_uri=DOCS.as_uri() + "/",
            description="Example documents in English and Chinese (examples/docs)",
        )
    job = service.submit_job(WORKSPACE_ID, INDEX_ID, None)
    for document in job.documents:
        print(f"  {document.status:<7} {document.name} {document.message}")
    print(f"demo knowledge base {WORKSPACE_ID}/{INDEX_ID}: job {job.job_id} {job.status.value}")
    return 0 if job.status.value == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
