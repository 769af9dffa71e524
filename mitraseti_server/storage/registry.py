"""Blob stores by engine: ``config.storage`` (``local`` or ``s3://BUCKET[/PREFIX]``)
picks one; Dask workers call ``make_blob_store`` too, with the service's settings."""
from __future__ import annotations

from mitraseti_server.storage.blobs import BlobStore
from mitraseti_server.storage.local import LocalBlobStore
from mitraseti_server.storage.s3 import S3BlobStore

BLOB_STORES: dict[str, type[BlobStore]] = {"local": LocalBlobStore, "s3": S3BlobStore}


def make_blob_store(config) -> BlobStore:
    """The store named by ``config.storage``, built from the configuration."""
    return BLOB_STORES[config.storage_target.engine].from_config(config)
