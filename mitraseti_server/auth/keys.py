"""API keys: ``sk_live_<8-hex key id>_<43-char urlsafe secret>`` (256 random bits).

Only the SHA-256 digest of the whole key is stored (``storage.database``); lookup is by key
id and the digest is compared with ``hmac.compare_digest``.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from mitraseti_server.errors import AuthError, Forbidden, NotFound, StoreError
from mitraseti_server.storage.database import Store, User

KEY_PREFIX = "sk_live_"
KEY_RE = re.compile(r"^sk_live_([0-9a-f]{8})_([A-Za-z0-9_-]{43,})$")
DEFAULT_TTL_DAYS = 90
DAY_S = 86400


@dataclass
class NewKey:
    """A key just made: ``api_key`` exists only here (times in unix s)."""

    key_id: str
    api_key: str
    created_at: int
    expires_at: int
    ttl_days: int


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_api_key(store: Store, user_id: str, name: str = "Default",
                   ttl_days: int = DEFAULT_TTL_DAYS, now: float | None = None) -> NewKey:
    """Make and store a key valid ``ttl_days`` days."""
    now = int(time.time() if now is None else now)
    expires_at = now + int(ttl_days) * DAY_S
    for _ in range(5):
        key_id = secrets.token_hex(4)
        api_key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        if store.add_api_key(key_id=key_id, user_id=user_id, name=name,
                             digest=_digest(api_key), created_at=now, expires_at=expires_at):
            return NewKey(key_id, api_key, now, expires_at, int(ttl_days))
    raise StoreError("could not allocate a unique API key id")     # 5 collisions of 32 bits


def list_api_keys(store: Store, user_id: str, now: float | None = None) -> list[dict]:
    """Metadata of the user's keys, oldest first (never the key or its digest)."""
    now = int(time.time() if now is None else now)
    return [{**row, "active": bool(row["active"]), "expired": now >= row["expires_at"]}
            for row in store.api_keys_of(user_id)]


def revoke_own_key(store: Store, user: User, key_id: str) -> None:
    """Revoke the user's key ``key_id``; NotFound / Forbidden (another user's key)."""
    owner = store.api_key_owner(key_id)
    if owner is None:
        raise NotFound("API key not found", key_id=key_id)
    if owner != user.user_id:
        raise Forbidden("API key belongs to a different user", key_id=key_id)
    store.revoke_api_key(key_id)


def authenticate_api_key(store: Store, api_key: str, now: float | None = None) -> User:
    """The key's user, or AuthError (malformed, unknown, revoked or expired key)."""
    api_key = api_key.strip()
    match = KEY_RE.match(api_key)
    if not match:
        raise AuthError("Invalid API key")
    row = store.api_key_with_user(match.group(1))
    # compare even when the id is unknown, so timing does not reveal which ids exist
    digest = row["digest"] if row else "0" * 64
    if not hmac.compare_digest(digest, _digest(api_key)) or row is None:
        raise AuthError("Invalid API key")
    if not row["active"]:
        raise AuthError("API key has been revoked", key_id=match.group(1))
    if (time.time() if now is None else now) >= row["expires_at"]:
        raise AuthError("API key has expired", key_id=match.group(1),
                        expired_at=row["expires_at"])
    return User(row["user_id"], row["name"], row["tier"])
