"""Where data-center files' bytes live (``chalicelib.core.data_center.BlobStore``): a directory or an S3 bucket."""
