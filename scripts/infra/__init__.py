"""The pieces of ``scripts/build_infra.py``: the function table, resource names, IAM policies and the merged template."""
