"""The ``sift`` command: serve the local stage, index files, query an index, follow a job.

An adapter over Sift's operations (``chalicelib.api.operations``): it may import ``chalicelib``, which never imports
it, and it is not part of the Lambda package (``chalice package`` takes ``app.py`` and ``chalicelib/`` only).
"""
