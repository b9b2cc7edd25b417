"""Manage access keys (``SIFT_AUTH=accesskey``): create, list and revoke them in the stage's catalog.

    python -m scripts.keys create --workspace ws_demo --level read [--project travel] [--description "..."]
    python -m scripts.keys list
    python -m scripts.keys revoke SIFT0123456789ABCDEFGHIJ

The stage is the environment's, as for the server: the local stage by default (the SQLite catalog in ``SIFT_DATA_DIR``,
secrets sealed with the master key in ``SIFT_MASTER_KEY_FILE``); an AWS stage with ``SIFT_STAGE``, ``SIFT_CATALOG``,
``SIFT_CATALOG_TABLE`` and ``SIFT_KMS_KEY_ID`` set (the stack's outputs) and the caller's AWS credentials. ``create``
prints the secret once; nothing prints it again.
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.composition import build_access_keys
from chalicelib.core.access_keys import AccessKey, AccessKeys, Level
from chalicelib.core.errors import NotFoundError
from chalicelib.settings import Settings


def _view(key: AccessKey) -> dict[str, object]:
    return {"AccessKeyId": key.key_id, "Level": key.level, "Workspaces": list(key.workspaces),
            "Projects": list(key.projects), "Description": key.description, "CreateTime": key.created_at,
            "Revoked": key.revoked_at or None}


def create(keys: AccessKeys, *, level: str, workspaces: list[str], projects: list[str], description: str) -> str:
    key, secret = keys.create(level=Level(level), workspaces=workspaces, projects=projects, description=description)
    return json.dumps(_view(key) | {"AccessKeySecret": secret}, ensure_ascii=False)


def main(argv: list[str] | None = None, keys: AccessKeys | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.keys", description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="a new key bound to workspaces and/or projects; prints its secret once")
    made.add_argument("--workspace", action="append", default=[], help="a WorkspaceId it may reach (repeatable)")
    made.add_argument("--project", action="append", default=[], help="a ProjectName it may reach (repeatable)")
    made.add_argument("--level", choices=[level.value for level in Level], required=True)
    made.add_argument("--description", default="")
    commands.add_parser("list", help="every key, without secrets")
    revoked = commands.add_parser("revoke", help="stop a key at once")
    revoked.add_argument("key_id")
    args = parser.parse_args(argv)
    if args.command == "create" and not (args.workspace or args.project):
        parser.error("create needs at least one --workspace or --project")
    keys = keys or build_access_keys(Settings.from_environment())
    if args.command == "create":
        print(create(keys, level=args.level, workspaces=args.workspace, projects=args.project,
                     description=args.description))
    elif args.command == "list":
        for key in keys.list():
            print(json.dumps(_view(key), ensure_ascii=False))
    else:
        try:
            print(json.dumps(_view(keys.revoke(args.key_id)), ensure_ascii=False))
        except NotFoundError:
            print(f"no access key {args.key_id}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
