"""Create the DynamoDB catalog table of an AWS stage, named as ``.chalice/config.json`` says (``SIFT_CATALOG_TABLE``).

    python -m scripts.create_catalog_table --stage dev [--region us-west-2]

Uses the caller's AWS credentials. An existing table is left alone. (Issue 6 moves this into the CloudFormation
resources merged into ``chalice package``; the table definition is ``chalicelib.store.dynamodb.TABLE_DEFINITION``.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import boto3

from chalicelib.store.dynamodb import create_table

CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json that uses DynamoDB")
    parser.add_argument("--region", default=None, help="defaults to the AWS CLI's region")
    args = parser.parse_args(argv)
    stage = json.loads(CONFIG.read_text())["stages"].get(args.stage)
    if stage is None:
        print(f"no stage {args.stage!r} in {CONFIG}", file=sys.stderr)
        return 2
    table = stage.get("environment_variables", {}).get("SIFT_CATALOG_TABLE")
    if not table:
        print(f"stage {args.stage!r} sets no SIFT_CATALOG_TABLE (it does not use DynamoDB)", file=sys.stderr)
        return 2
    client = boto3.client("dynamodb", region_name=args.region)
    try:
        client.describe_table(TableName=table)
    except client.exceptions.ResourceNotFoundException:
        create_table(client, table)
    else:
        print(f"table {table} exists")
        return 0
    print(f"table {table} created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
