"""Service configuration in one place: defaults, ``config.toml`` in the data dir, env vars.

Precedence (last wins): built-in defaults < ``<data_dir>/config.toml`` (or ``path``) <
``MITRASETI_<FIELD>`` environment variables < keyword overrides of ``Config.load``.

TOML layout: sections are only namespaces for readability; every key must be a ``Config``
field name, except ``[tiers.<name>]`` tables, which set ``TierLimits`` fields::

    [server]
    host = "0.0.0.0"
    port = 8000
    [executor]
    max_workers = 4
    [jwt]
    oidc_issuer = "https://issuer.example"
    [tiers.free]
    files_per_month = 20

Sizes are MB (2**20 bytes) where the name says ``_mb``, bytes otherwise; times are seconds.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

MB = 1024 * 1024
ENV_PREFIX = "MITRASETI_"
CONFIG_FILENAME = "config.toml"
SECRET_FILENAME = "secret.key"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names its source."""


@dataclass
class TierLimits:
    """Quotas of one tier (reference: Rate Limits & Quotas)."""

    files_per_month: int
    max_file_mb: int
    concurrent_jobs: int
    job_history: int
    retention_days: int
    api_keys: bool
    webhooks: bool
    price: str

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb) * MB


def default_tiers() -> dict[str, TierLimits]:
    """Fresh copies of the reference's tier table (Enterprise 'custom' -> large numbers)."""
    return {
        "free": TierLimits(10, 50, 5, 10, 7, False, False, "Free"),
        "researcher": TierLimits(500, 1024, 5, 50, 90, True, False, "$99 USD/mo"),
        "institution": TierLimits(5000, 5120, 5, 200, 365, True, True, "$499 USD/mo"),
        "enterprise": TierLimits(100000, 10240, 5, 500, 3650, True, True, "Custom"),
    }


TIER_NAMES = ("free", "researcher", "institution", "enterprise")


@dataclass
class Config:
    """Everything the service reads at start-up. See the module docstring for sources."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""              # public URL of the app; "" -> http://{host}:{port}
    api_prefix: str = ""            # routes prefix, e.g. "/mitraseti/api" inside Jupyter
    secret_key: bytes = b""         # HMAC/JWT secret; "" -> data_dir/secret.key (0600)
    tiers: dict[str, TierLimits] = field(default_factory=default_tiers)
    # executor (used by the jobs room)
    max_workers: int = 2
    job_timeout_s: float = 3600.0
    kernel_name: str = "python3"
    kernel_pool_size: int = -1      # spare pre-warmed kernels; -1: max_workers; 0: none
    # identity
    jwt_issuer: str = "mitraseti-local"
    jwt_ttl_s: int = 12 * 3600
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_url: str = ""
    jwks_cache_s: float = 3600.0
    jwks_min_refresh_s: float = 10.0  # unknown kid -> refetch, at most this often
    # uploads
    upload_expires_s: int = 3600
    multipart_threshold_mb: int = 50
    part_size: int = 10 * MB        # the contract's 10 MB parts
    min_part_size: int = 5 * MB     # S3's minimum size of a non-last part
    stale_upload_s: float = 24 * 3600.0
    sweep_interval_s: float = 600.0
    # webhooks (institution and enterprise tiers)
    webhook_attempts: int = 4          # tries per event
    webhook_backoff_s: float = 1.0     # wait backoff * 2**i between tries
    webhook_allow_private: bool = True  # false: refuse loopback/private/link-local targets
    # storage: "local" (files in data_dir/blobs) or "s3"
    storage: str = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    # clock, injectable for tests (unix seconds)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.storage not in ("local", "s3"):
            raise ConfigError(f"storage must be 'local' or 's3', got {self.storage!r}")
        if self.storage == "s3" and not self.s3_bucket:
            raise ConfigError("storage = 's3' needs s3_bucket (MITRASETI_S3_BUCKET)")
        if self.kernel_pool_size < -1:
            raise ConfigError(f"kernel_pool_size must be -1 (as many as max_workers), 0 (no "
                              f"pool) or a positive count, got {self.kernel_pool_size}")
        for name in TIER_NAMES:
            if name not in self.tiers:
                raise ConfigError(f"tiers: missing tier {name!r}")

    # ---- derived ------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.data_dir / "mitraseti.db"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

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
            raise ConfigError(f"unknown tier {name!r}; expected one of {sorted(self.tiers)}")

    # ---- loading ------------------------------------------------------------------
    @classmethod
    def load(cls, data_dir: str | Path | None = None, path: str | Path | None = None,
             env: dict[str, str] | None = None, **overrides: Any) -> "Config":
        """Build the config for ``data_dir`` (see ``resolve_data_dir``) from TOML + env."""
        env = dict(os.environ if env is None else env)
        data_dir = resolve_data_dir(data_dir, env)
        values: dict[str, Any] = {}
        tiers = default_tiers()
        toml_path = Path(path) if path else data_dir / CONFIG_FILENAME
        if path and not toml_path.exists():
            raise ConfigError(f"config file {toml_path} does not exist")
        if toml_path.exists():
            _apply_toml(toml_path, values, tiers)
        _apply_env(env, values)
        values.update(overrides)
        values.setdefault("tiers", tiers)
        values["data_dir"] = data_dir
        config = cls(**values)
        if not config.secret_key:
            config.secret_key = load_or_create_secret(data_dir)
        return config


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
        raise ConfigError(f"{path}: secret key too short ({len(secret)} bytes, expected 32)")
    return secret


_FIELDS = {f.name: f for f in dataclasses.fields(Config)
           if f.name not in ("data_dir", "tiers", "clock")}
_TIER_FIELDS = {f.name: f for f in dataclasses.fields(TierLimits)}


def _coerce(value: Any, type_name: str, where: str) -> Any:
    """Convert a TOML/env value to a field's declared type, naming ``where`` on error."""
    t = type_name.replace(" ", "")
    try:
        if t == "bytes":
            return value.encode() if isinstance(value, str) else bytes(value)
        if t == "bool":
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if t == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if t == "float":
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {t}, got {value!r}") from None


def _apply_toml(path: Path, values: dict[str, Any], tiers: dict[str, TierLimits]) -> None:
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read TOML ({exc})") from None

    def walk(table: dict[str, Any], section: str) -> None:
        for key, value in table.items():
            where = f"{path} [{section}] {key}" if section else f"{path} {key}"
            if key == "tiers" and isinstance(value, dict):
                _apply_tiers(path, value, tiers)
            elif isinstance(value, dict):
                walk(value, key)
            elif key in _FIELDS:
                values[key] = _coerce(value, str(_FIELDS[key].type), where)
            else:
                raise ConfigError(f"{where}: unknown setting; expected one of {sorted(_FIELDS)}")

    walk(doc, "")


def _apply_tiers(path: Path, table: dict[str, Any], tiers: dict[str, TierLimits]) -> None:
    for name, limits in table.items():
        if not isinstance(limits, dict):
            raise ConfigError(f"{path} [tiers.{name}]: expected a table")
        base = tiers.get(name) or TierLimits(**dataclasses.asdict(tiers["free"]))
        for key, value in limits.items():
            if key not in _TIER_FIELDS:
                raise ConfigError(f"{path} [tiers.{name}] {key}: unknown tier setting; "
                                  f"expected one of {sorted(_TIER_FIELDS)}")
            setattr(base, key, _coerce(value, str(_TIER_FIELDS[key].type),
                                       f"{path} [tiers.{name}] {key}"))
        tiers[name] = base


def _apply_env(env: dict[str, str], values: dict[str, Any]) -> None:
    for name, f in _FIELDS.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(raw, str(f.type), f"${ENV_PREFIX}{name.upper()}")
