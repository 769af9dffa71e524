"""The service's configuration: one traitlets ``ServiceConfig`` for ``mitraseti serve`` and
the Jupyter Server extension.

Sources, last wins: built-in defaults < ``<data_dir>/config.toml`` (or ``path``) <
``MITRASETI_<NAME>`` environment variables < the Jupyter config (``c.ServiceConfig.<name>``
in ``jupyter_server_config.py``, when mounted in Jupyter) < keyword overrides of
``ServiceConfig.load``. Every value is checked by its trait's type; an unknown key or a
value of the wrong type is a ``ConfigError`` naming the key and where it came from.

TOML layout: sections are only namespaces for readability; every key must be a setting
name, except ``[tiers.<name>]`` tables, which set ``TierLimits`` fields::

    [server]
    host = "0.0.0.0"
    port = 8000
    [executor]
    max_workers = 4
    [tiers.free]
    files_per_month = 20

Sizes are MB (2**20 bytes) where the name says ``_mb``, bytes otherwise; times are seconds.
"""
from __future__ import annotations

import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from traitlets import (Bool, Bytes, Callable, Dict, Enum, Float, HasTraits, Int, TraitError,
                       TraitType, Unicode, validate)
from traitlets.config import Configurable
from traitlets.config.loader import DeferredConfig

from mitraseti_server.errors import ConfigError

MB = 1024 * 1024
ENV_PREFIX = "MITRASETI_"
CONFIG_FILENAME = "config.toml"
SECRET_FILENAME = "secret.key"
TIER_NAMES = ("free", "researcher", "institution", "enterprise")


class TierLimits(HasTraits):
    """Quotas of one tier (files per UTC month, MB per file, jobs, days)."""

    files_per_month = Int(10, help="files analysed per UTC month (a cadence: each file)")
    max_file_mb = Int(50, help="largest upload, MB")
    concurrent_jobs = Int(5, help="jobs submitted or processing at once")
    job_history = Int(10, help="jobs kept; the oldest finished ones are pruned")
    retention_days = Int(7, help="days results and uploads are kept")
    api_keys = Bool(False, help="may create and use API keys")
    webhooks = Bool(False, help="may set webhook_url on a job")
    price = Unicode("Free", help="shown by GET /usage")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb) * MB

    def copy(self) -> "TierLimits":
        return TierLimits(**self.trait_values())


def default_tiers() -> dict[str, TierLimits]:
    """Fresh copies of the tier table (Enterprise 'custom' -> large numbers)."""
    rows = {"free": (10, 50, 5, 10, 7, False, False, "Free"),
            "researcher": (500, 1024, 5, 50, 90, True, False, "$99 USD/mo"),
            "institution": (5000, 5120, 5, 200, 365, True, True, "$499 USD/mo"),
            "enterprise": (100000, 10240, 5, 500, 3650, True, True, "Custom")}
    order = ("files_per_month", "max_file_mb", "concurrent_jobs", "job_history",
             "retention_days", "api_keys", "webhooks", "price")
    return {tier: TierLimits(**dict(zip(order, row))) for tier, row in rows.items()}


DATABASE_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")
# S3's bucket naming rules: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class StorageTarget:
    """Where blobs live: ``engine`` "local" or "s3"; for S3 the ``bucket`` and the key
    ``prefix`` ('' or 'some/prefix', no slashes at the ends) every object key goes under."""

    engine: str
    bucket: str = ""
    prefix: str = ""


def parse_storage(value: str, s3_bucket: str = "") -> StorageTarget:
    """``local``, ``s3://BUCKET[/PREFIX]`` or ``s3`` (with ``s3_bucket``); ConfigError
    naming ``storage`` (or ``s3_bucket``) otherwise."""
    value = value.strip()
    if value == "local":
        return StorageTarget("local")
    if value == "s3":
        if not s3_bucket:
            raise ConfigError("storage = 's3' needs s3_bucket (MITRASETI_S3_BUCKET), or "
                              "give storage = 's3://BUCKET[/PREFIX]'", key="s3_bucket")
        value = "s3://" + s3_bucket
    expected = "expected local or s3://BUCKET[/PREFIX]"
    if not value.startswith("s3://"):
        raise ConfigError(f"storage {value!r}: {expected}", key="storage")
    bucket, _, prefix = value[len("s3://"):].partition("/")
    prefix = prefix.strip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(f"storage {value!r}: {bucket!r} is not an S3 bucket name "
                          f"(3-63 of a-z, 0-9, '.', '-'); {expected}", key="storage")
    bad_part = any(part in ("", ".", "..") for part in prefix.split("/"))
    if prefix and (bad_part or any(c in prefix for c in "\\\x00?#")):
        raise ConfigError(f"storage {value!r}: the prefix {prefix!r} is not a key prefix; "
                          f"{expected}", key="storage")
    return StorageTarget("s3", bucket, prefix)


@dataclass(frozen=True)
class ExecutorTarget:
    """Where jobs run: ``kind`` "local" (processes on this machine), "dask" (the
    scheduler at ``address``, tcp://HOST:PORT) or "dask-local" (a LocalCluster of
    ``workers`` worker processes started by the service)."""

    kind: str
    address: str = ""
    workers: int = 0


_DASK_ADDRESS = re.compile(r"(?:dask|tcp)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})")
_DASK_LOCAL = re.compile(r"dask-local(?::(\d{1,3}))?")


def parse_executor(value: str) -> ExecutorTarget:
    """``local``, ``dask://HOST:PORT`` (or ``tcp://HOST:PORT``) or ``dask-local[:N]``;
    ConfigError naming ``executor`` otherwise."""
    value = value.strip()
    if value == "local":
        return ExecutorTarget("local")
    found = _DASK_ADDRESS.fullmatch(value)
    if found and 0 < int(found.group(2)) < 65536:
        return ExecutorTarget("dask", address=f"tcp://{found.group(1)}:{found.group(2)}")
    found = _DASK_LOCAL.fullmatch(value)
    if found and int(found.group(1) or 2) > 0:
        return ExecutorTarget("dask-local", workers=int(found.group(1) or 2))
    raise ConfigError(f"executor {value!r}: expected local, dask://HOST:PORT, "
                      "tcp://HOST:PORT or dask-local[:N] (N >= 1 workers)", key="executor")


class PathTrait(TraitType):
    """A file system path (str or Path; ``~`` expanded)."""

    info_text = "a file system path"

    def validate(self, obj, value):
        if isinstance(value, (str, os.PathLike)) and str(value):
            return Path(value).expanduser()
        self.error(obj, value)

    def from_string(self, s: str) -> Path:
        return Path(s)


class ServiceConfig(Configurable):
    """Everything the service reads at start-up (see the module docstring for sources)."""

    data_dir = PathTrait(Path("~/.mitraseti"), help="blobs, work dirs, secret, SQLite file")
    database = Unicode("", help="metadata database: '' -> the SQLite file "
                       "data_dir/mitraseti.db; sqlite:///PATH or "
                       "postgresql://USER@HOST:PORT/DB (shared by several API processes)"
                       ).tag(config=True)
    host = Unicode("127.0.0.1", help="bind address").tag(config=True)
    port = Int(8000, min=0, max=65535, help="TCP port (0 picks a free one)").tag(config=True)
    base_url = Unicode("", help="public URL of the app; '' -> http://{host}:{port}").tag(
        config=True)
    api_prefix = Unicode("", help="route prefix, e.g. /mitraseti/api in Jupyter").tag(
        config=True)
    secret_key = Bytes(b"", help="HMAC/JWT secret; empty -> data_dir/secret.key").tag(
        config=True)
    tiers = Dict(help="tier name -> TierLimits").tag(config=True)
    # executor
    executor = Unicode("local", help="where jobs run: local, dask://HOST:PORT (a Dask "
                       "scheduler; also tcp://) or dask-local[:N] (N Dask worker processes "
                       "on this machine, default 2)").tag(config=True)
    max_workers = Int(2, min=0, help="jobs run at once (0 pauses processing)").tag(config=True)
    job_timeout_s = Float(3600.0, min=0.0, help="whole-job timeout, s").tag(config=True)
    kernel_name = Unicode("python3", help="Jupyter kernel of the pipeline").tag(config=True)
    kernel_pool_size = Int(-1, min=-1, help="spare warm kernels; -1: max_workers, 0: none"
                           ).tag(config=True)
    # identity
    jwt_issuer = Unicode("mitraseti-local").tag(config=True)
    jwt_ttl_s = Int(12 * 3600, min=1, help="lifetime of local JWTs, s").tag(config=True)
    oidc_issuer = Unicode("").tag(config=True)
    oidc_audience = Unicode("").tag(config=True)
    oidc_jwks_url = Unicode("").tag(config=True)
    jwks_cache_s = Float(3600.0, min=0.0).tag(config=True)
    jwks_min_refresh_s = Float(10.0, min=0.0, help="unknown kid -> refetch at most this often"
                               ).tag(config=True)
    # uploads
    upload_expires_s = Int(3600, min=1).tag(config=True)
    multipart_threshold_mb = Int(50, min=1).tag(config=True)
    part_size = Int(10 * MB, min=1, help="bytes per multipart part").tag(config=True)
    min_part_size = Int(5 * MB, min=0, help="S3's minimum non-last part, bytes").tag(
        config=True)
    stale_upload_s = Float(24 * 3600.0, min=0.0).tag(config=True)
    sweep_interval_s = Float(600.0, min=0.001).tag(config=True)
    # webhooks (institution and enterprise tiers)
    webhook_attempts = Int(10, min=1, help="tries per event (the outbox keeps them "
                           "across restarts)").tag(config=True)
    webhook_backoff_s = Float(10.0, min=0.0, help="wait backoff * 2**i after failed try "
                              "i+1, s").tag(config=True)
    webhook_backoff_max_s = Float(3600.0, min=0.0, help="longest wait between tries, s").tag(
        config=True)
    webhook_allow_private = Bool(True, help="false: refuse loopback/private targets").tag(
        config=True)
    jupyter_tier = Enum(list(TIER_NAMES), "researcher",
                        help="tier of users the Jupyter extension signs in").tag(config=True)
    # storage
    storage = Unicode("local", help="blob store: local (data_dir/blobs) or "
                      "s3://BUCKET[/PREFIX] (also 's3' with s3_bucket)").tag(config=True)
    s3_bucket = Unicode("", help="bucket when storage = 's3'").tag(config=True)
    s3_endpoint_url = Unicode("", help="'' -> $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL or "
                              "AWS itself").tag(config=True)
    s3_region = Unicode("", help="'' -> $AWS_REGION, $AWS_DEFAULT_REGION or us-east-1"
                        ).tag(config=True)
    s3_access_key_id = Unicode("", help="'' -> the AWS credential chain").tag(config=True)
    s3_secret_access_key = Unicode("").tag(config=True)
    input_cache_dir = Unicode("", help="local copies of S3 inputs; '' -> data_dir/cache"
                              ).tag(config=True)
    input_cache_gb = Float(20.0, min=0.0, help="byte budget of the input cache, GiB").tag(
        config=True)
    # clock, injectable for tests (returns unix seconds)
    clock = Callable(time.time)

    def _tiers_default(self) -> dict:
        return default_tiers()

    @validate("storage")
    def _check_storage(self, proposal) -> str:
        value = proposal["value"].strip()
        if value != "s3":           # 's3' needs s3_bucket: checked with the other settings
            try:
                parse_storage(value)
            except ConfigError as exc:
                raise TraitError(str(exc)) from None
        return value

    @validate("tiers")
    def _check_tiers(self, proposal) -> dict:
        tiers = proposal["value"]
        for name, limits in tiers.items():
            if not isinstance(limits, TierLimits):
                raise TraitError(f"tier {name!r} must be TierLimits, got {limits!r}")
        missing = [name for name in TIER_NAMES if name not in tiers]
        if missing:
            raise TraitError(f"missing tier(s) {missing}")
        return tiers

    # ---- derived ------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.data_dir / "mitraseti.db"

    @property
    def database_url(self) -> str:
        """Where the metadata lives: ``database``, else the SQLite file ``db_path``."""
        return self.database or str(self.db_path)

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def executor_target(self) -> ExecutorTarget:
        """``executor`` parsed: kind, scheduler address or LocalCluster size."""
        return parse_executor(self.executor)

    @property
    def storage_target(self) -> StorageTarget:
        """``storage`` parsed: engine, bucket and key prefix."""
        return parse_storage(self.storage, self.s3_bucket)

    @property
    def cache_dir(self) -> Path:
        """Folder of the bounded input cache (local copies of S3 inputs)."""
        return Path(self.input_cache_dir).expanduser() if self.input_cache_dir else \
            self.data_dir / "cache"

    @property
    def public_url(self) -> str:
        """Absolute base URL clients reach the app at (no trailing slash, no prefix)."""
        if self.base_url:
            return self.base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def now(self) -> float:
        return float(self.clock())

    def tier(self, name: str) -> TierLimits:
        try:
            return self.tiers[name]
        except KeyError:
            raise ConfigError(f"unknown tier {name!r}; expected one of {sorted(self.tiers)}",
                              key="tiers") from None

    # ---- loading ------------------------------------------------------------------
    @classmethod
    def settings(cls) -> list[str]:
        """Names a config file, the environment or Jupyter may set."""
        return sorted(cls.class_trait_names(config=True))

    @classmethod
    def load(cls, data_dir: str | Path | None = None, path: str | Path | None = None,
             env: dict[str, str] | None = None, jupyter: Any = None,
             **overrides: Any) -> "ServiceConfig":
        """The configuration for ``data_dir`` (see ``resolve_data_dir``) from TOML, the
        environment, the Jupyter config ``jupyter`` (a traitlets Config) and keywords."""
        env = dict(os.environ if env is None else env)
        section = dict(jupyter.get(cls.__name__, {})) if jupyter is not None else {}
        data_dir = resolve_data_dir(data_dir or section.pop("data_dir", None), env)
        config = cls(data_dir=data_dir)
        tiers = default_tiers()
        toml_path = Path(path) if path else data_dir / CONFIG_FILENAME
        if path and not toml_path.exists():
            raise ConfigError(f"config file {toml_path} does not exist", key=None)
        if toml_path.exists():
            _apply_toml(config, toml_path, tiers)
        config.tiers = tiers
        for name in cls.settings():
            raw = env.get(ENV_PREFIX + name.upper())
            if raw:
                where = f"${ENV_PREFIX}{name.upper()}"
                _set(config, name, _from_string(config, name, raw, where), where)
        for name, value in section.items():
            _set(config, name, value, f"c.{cls.__name__}.{name}")
        for name, value in overrides.items():
            _set(config, name, value, f"keyword {name}", any_trait=True)
        config.check()
        if not config.secret_key:
            config.secret_key = load_or_create_secret(data_dir)
        return config

    def check(self) -> None:
        """Rules between settings; ConfigError naming the key."""
        self.storage_target                  # ConfigError naming storage or s3_bucket
        self.executor_target                 # ConfigError naming executor
        if self.database and not self.database.startswith(DATABASE_SCHEMES):
            raise ConfigError(f"database {self.database!r}: expected sqlite:///PATH or "
                              "postgresql://USER@HOST:PORT/DB", key="database")


def _set(config: ServiceConfig, name: str, value: Any, where: str,
         any_trait: bool = False) -> None:
    """``config.<name> = value``; ConfigError naming ``where`` for an unknown name or a
    value its trait refuses."""
    known = config.trait_names() if any_trait else ServiceConfig.settings()
    if name not in known:
        raise ConfigError(f"{where}: unknown setting {name!r}; expected one of "
                          f"{ServiceConfig.settings()}", key=name)
    trait = config.traits()[name]
    try:
        if isinstance(value, DeferredConfig):       # a Jupyter command-line value
            value = value.get_value(trait)
        if isinstance(trait, Bytes) and isinstance(value, str):
            value = value.encode()
        setattr(config, name, value)
    except TraitError as exc:
        raise ConfigError(f"{where}: {_reason(exc)}", key=name) from None


def _reason(exc: TraitError) -> str:
    """The trait's complaint on one line."""
    return " ".join(str(exc).split())


def _from_string(config: ServiceConfig, name: str, raw: str, where: str) -> Any:
    """An environment value parsed by the trait's own ``from_string``."""
    trait = config.traits()[name]
    try:
        if isinstance(trait, (Bytes, Unicode)):
            return raw
        if isinstance(trait, Bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return trait.from_string(raw)
    except (TraitError, ValueError) as exc:
        raise ConfigError(f"{where}: expected {trait.info()}, got {raw!r} ({exc})",
                          key=name) from None


def _apply_toml(config: ServiceConfig, path: Path, tiers: dict[str, TierLimits]) -> None:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read TOML ({exc})", key=None) from None

    def walk(table: dict[str, Any], section: str) -> None:
        for key, value in table.items():
            where = f"{path} [{section}] {key}" if section else f"{path} {key}"
            if key == "tiers" and isinstance(value, dict):
                _apply_tiers(path, value, tiers)
            elif isinstance(value, dict):
                walk(value, key)
            else:
                _set(config, key, value, where)

    walk(doc, "")


def _apply_tiers(path: Path, table: dict[str, Any], tiers: dict[str, TierLimits]) -> None:
    fields = sorted(TierLimits.class_trait_names())
    for name, limits in table.items():
        if not isinstance(limits, dict):
            raise ConfigError(f"{path} [tiers.{name}]: expected a table", key=f"tiers.{name}")
        tier = (tiers.get(name) or tiers["free"]).copy()
        for key, value in limits.items():
            where = f"{path} [tiers.{name}] {key}"
            if key not in fields:
                raise ConfigError(f"{where}: unknown tier setting; expected one of {fields}",
                                  key=f"tiers.{name}.{key}")
            try:
                setattr(tier, key, value)
            except TraitError as exc:
                raise ConfigError(f"{where}: {_reason(exc)}", key=f"tiers.{name}.{key}") \
                    from None
        tiers[name] = tier


def resolve_data_dir(arg: str | Path | None = None, env: dict[str, str] | None = None) -> Path:
    """``--data-dir`` if given, else ``$MITRASETI_DATA_DIR``, else ``~/.mitraseti``."""
    env = os.environ if env is None else env
    chosen = arg or env.get(ENV_PREFIX + "DATA_DIR") or "~/.mitraseti"
    return Path(chosen).expanduser().resolve()


def load_or_create_secret(data_dir: Path) -> bytes:
    """The 32-byte service secret from ``data_dir/secret.key``, created once with mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILENAME
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
        try:
            os.link(tmp, path)      # atomic; loses politely to a concurrent creator
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    secret = path.read_bytes()
    if len(secret) < 16:
        raise ConfigError(f"{path}: secret key too short ({len(secret)} bytes, expected 32)",
                          key="secret_key")
    return secret
