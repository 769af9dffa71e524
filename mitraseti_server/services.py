"""The long-lived parts of the service, built once from the configuration and shared by
every handler: the wiring between the layers (storage -> auth, jobs -> api)."""
from __future__ import annotations

from dataclasses import dataclass

from mitraseti_server.auth.tokens import JwksCache
from mitraseti_server.config import ServiceConfig
from mitraseti_server.jobs.executor import BaseExecutor
from mitraseti_server.jobs.local_executor import LocalExecutor
from mitraseti_server.jobs.service import JobService
from mitraseti_server.jobs.store import JobStore
from mitraseti_server.jobs.sweeper import Retention, Sweeper
from mitraseti_server.storage.blobs import BlobStore
from mitraseti_server.storage.database import Store
from mitraseti_server.storage.registry import make_blob_store
from mitraseti_server.storage.uploads import UploadService


@dataclass
class Services:
    """Configuration, storage, the jobs layer and identity of one running service."""

    config: ServiceConfig
    store: Store
    blobs: BlobStore
    job_store: JobStore
    retention: Retention
    uploads: UploadService
    executor: BaseExecutor
    jobs: JobService
    sweeper: Sweeper
    jwks: JwksCache | None = None


def build_services(config: ServiceConfig) -> Services:
    """Open (and migrate) the database, the blob store and every service on top."""
    store = Store(config.database_url)
    store.migrate()                         # every table, the jobs layer's included
    blobs = make_blob_store(config)
    job_store = JobStore(store)
    retention = Retention(config, store, job_store, blobs)
    uploads = UploadService(config, store, blobs)
    executor = make_executor(config, job_store, blobs, retention)
    jwks = (JwksCache(config.oidc_jwks_url, ttl_s=config.jwks_cache_s,
                      min_refresh_s=config.jwks_min_refresh_s)
            if config.oidc_jwks_url else None)
    return Services(config=config, store=store, blobs=blobs, job_store=job_store,
                    retention=retention, uploads=uploads, executor=executor,
                    jobs=JobService(config, job_store, uploads, executor, retention),
                    sweeper=Sweeper(retention, config.sweep_interval_s), jwks=jwks)


def make_executor(config: ServiceConfig, job_store: JobStore, blobs: BlobStore,
                  retention: Retention) -> BaseExecutor:
    """The executor named by ``config.executor``: local processes, or a Dask cluster
    (``distributed`` is imported only then)."""
    if config.executor_target.kind == "local":
        return LocalExecutor(config, job_store, blobs, retention)
    from mitraseti_server.jobs.dask_executor import DaskExecutor
    return DaskExecutor(config, job_store, blobs, retention)
