"""Identity: API keys (x-api-key), locally issued JWTs and OIDC/Cognito id_tokens (Bearer).

API keys look like ``sk_live_<8-hex key id>_<43-char urlsafe secret>`` (256 random bits).
Only the SHA-256 digest of the whole key is stored; lookup is by key id and the digest is
compared with ``hmac.compare_digest``. Local JWTs are HS256 with the service secret
(``iss`` = ``config.jwt_issuer``, ``sub`` = user_id). OIDC id_tokens are RS256, checked
against ``config.oidc_issuer`` / ``oidc_audience`` and keys from ``oidc_jwks_url``.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass

import jwt
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .store import Store, StoreError, User

KEY_PREFIX = "sk_live_"
KEY_RE = re.compile(r"^sk_live_([0-9a-f]{8})_([A-Za-z0-9_-]{43,})$")
DEFAULT_TTL_DAYS = 90
DAY = 86400


class AuthError(Exception):
    """Authentication failed: answered as 403 ``{"error": message, **context}``."""

    def __init__(self, message: str, **context):
        super().__init__(message)
        self.message, self.context = message, context


# ---- API keys ----------------------------------------------------------------------------
@dataclass
class NewKey:
    key_id: str
    api_key: str
    created_at: int
    expires_at: int
    ttl_days: int


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_api_key(store: Store, user_id: str, name: str = "Default",
                   ttl_days: int = DEFAULT_TTL_DAYS, now: float | None = None) -> NewKey:
    """Make and store a key; the full key exists only in the returned object."""
    now = int(time.time() if now is None else now)
    for _ in range(5):
        key_id = secrets.token_hex(4)
        api_key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        expires_at = now + int(ttl_days) * DAY
        try:
            with store.transaction() as conn:
                conn.execute("INSERT INTO api_keys (key_id, user_id, name, digest, created_at,"
                             " expires_at, active) VALUES (?, ?, ?, ?, ?, ?, 1)",
                             (key_id, user_id, name, _digest(api_key), now, expires_at))
        except sqlite3.IntegrityError:
            continue            # key id collision (32 bits): draw again
        return NewKey(key_id, api_key, now, expires_at, int(ttl_days))
    raise StoreError("could not allocate a unique API key id")


def list_api_keys(store: Store, user_id: str, now: float | None = None) -> list[dict]:
    """Metadata of the user's keys, oldest first (never the key or its digest)."""
    now = int(time.time() if now is None else now)
    rows = store.connect().execute(
        "SELECT key_id, name, created_at, expires_at, active FROM api_keys WHERE user_id=?"
        " ORDER BY created_at, rowid", (user_id,))
    return [{"key_id": r["key_id"], "name": r["name"], "created_at": r["created_at"],
             "expires_at": r["expires_at"], "active": bool(r["active"]),
             "expired": now >= r["expires_at"]} for r in rows]


def get_key_owner(store: Store, key_id: str) -> str | None:
    row = store.connect().execute("SELECT user_id FROM api_keys WHERE key_id=?",
                                  (key_id,)).fetchone()
    return row[0] if row else None


def revoke_api_key(store: Store, key_id: str) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE api_keys SET active=0 WHERE key_id=?", (key_id,))


def authenticate_api_key(store: Store, api_key: str, now: float | None = None) -> User:
    """The key's user, or AuthError (malformed, unknown, revoked or expired key)."""
    match = KEY_RE.match(api_key.strip())
    if not match:
        raise AuthError("Invalid API key")
    row = store.connect().execute(
        "SELECT k.digest, k.expires_at, k.active, u.user_id, u.name, u.tier FROM api_keys k"
        " JOIN users u ON u.user_id = k.user_id WHERE k.key_id=?", (match.group(1),)).fetchone()
    # compare even when the id is unknown, so timing does not reveal which ids exist
    digest = row["digest"] if row else "0" * 64
    if not hmac.compare_digest(digest, _digest(api_key.strip())) or row is None:
        raise AuthError("Invalid API key")
    if not row["active"]:
        raise AuthError("API key has been revoked", key_id=match.group(1))
    if (time.time() if now is None else now) >= row["expires_at"]:
        raise AuthError("API key has expired", key_id=match.group(1),
                        expired_at=row["expires_at"])
    return User(row["user_id"], row["name"], row["tier"])


# ---- local JWTs --------------------------------------------------------------------------
def issue_token(config, user: User, ttl_s: int | None = None, now: float | None = None) -> str:
    """HS256 JWT for ``user`` from the local issuer, valid ``ttl_s`` seconds."""
    now = int(config.now() if now is None else now)
    claims = {"iss": config.jwt_issuer, "sub": user.user_id, "name": user.name,
              "iat": now, "exp": now + int(ttl_s or config.jwt_ttl_s), "token_use": "id"}
    return jwt.encode(claims, config.secret_key, algorithm="HS256")


def _verify_local(config, store: Store, token: str) -> User:
    try:
        claims = jwt.decode(token, config.secret_key, algorithms=["HS256"],
                            issuer=config.jwt_issuer, options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("Token has expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"Invalid token: {exc}") from None
    user = store.get_user(claims["sub"])
    if user is None:
        raise AuthError("Token subject is not a known user")
    return user


# ---- OIDC / Cognito ----------------------------------------------------------------------
class JwksCache:
    """Signing keys of an OIDC issuer, fetched from ``url`` and cached ``ttl_s`` seconds;
    an unknown ``kid`` triggers one refresh (at most every ``min_refresh_s``)."""

    def __init__(self, url: str, ttl_s: float = 3600.0, min_refresh_s: float = 10.0):
        self.url, self.ttl_s, self.min_refresh_s = url, ttl_s, min_refresh_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0

    async def _refresh(self) -> None:
        try:
            resp = await AsyncHTTPClient().fetch(self.url, request_timeout=10)
            doc = json.loads(resp.body)
            keys = {}
            for jwk in doc.get("keys", []):
                if jwk.get("kid") and jwk.get("kty") == "RSA":
                    keys[jwk["kid"]] = jwt.PyJWK(jwk)
        except (HTTPClientError, OSError, ValueError, jwt.PyJWTError) as exc:
            raise AuthError(f"Cannot fetch signing keys from the identity provider ({exc})")
        self._keys, self._fetched_at = keys, time.time()

    async def get(self, kid: str) -> jwt.PyJWK:
        age = time.time() - self._fetched_at
        if age > self.ttl_s or (kid not in self._keys and age > self.min_refresh_s):
            await self._refresh()
        if kid not in self._keys:
            raise AuthError("Token signed with an unknown key", kid=kid)
        return self._keys[kid]


async def _verify_oidc(config, store: Store, jwks: JwksCache, token: str,
                       header: dict) -> User:
    key = await jwks.get(str(header.get("kid", "")))
    try:
        claims = jwt.decode(token, key.key, algorithms=["RS256"],
                            audience=config.oidc_audience or None,
                            issuer=config.oidc_issuer, options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("Token has expired") from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"Invalid token: {exc}") from None
    if claims.get("token_use", "id") != "id":
        raise AuthError("Only id tokens are accepted", token_use=claims.get("token_use"))
    return user_for_subject(store, claims)


def user_for_subject(store: Store, claims: dict) -> User:
    """The user mapped to an OIDC subject; a free-tier user is created on first sight."""
    external = f"{claims['iss']}|{claims['sub']}"
    user = store.get_user_by_external(external)
    if user is not None:
        return user
    base = str(claims.get("cognito:username") or claims.get("preferred_username")
               or claims.get("email") or claims["sub"])
    for name in (base, f"{base}-{claims['sub'][:8]}", f"{base}-{secrets.token_hex(4)}"):
        try:
            return store.create_user(name, "free", external_sub=external)
        except StoreError:
            user = store.get_user_by_external(external)     # a concurrent request won
            if user is not None:
                return user
    raise AuthError("Cannot create a user for this identity")


async def authenticate_bearer(config, store: Store, jwks: JwksCache | None,
                              token: str) -> User:
    """Route a Bearer token to the local or the OIDC verifier by its (unverified) issuer."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError("Invalid token: not a JWT") from None
    issuer = unverified.get("iss")
    if issuer == config.jwt_issuer and header.get("alg") == "HS256":
        return _verify_local(config, store, token)
    if config.oidc_issuer and issuer == config.oidc_issuer and jwks is not None:
        return await _verify_oidc(config, store, jwks, token, header)
    raise AuthError("Invalid token: unknown issuer")


async def authenticate_request(services, headers) -> User:
    """The user behind a request's ``x-api-key`` or ``Authorization: Bearer`` header."""
    config, store = services.config, services.store
    api_key = headers.get("x-api-key")
    if api_key:
        user = authenticate_api_key(store, api_key, now=config.now())
        if not config.tier(user.tier).api_keys:
            raise AuthError(f"API keys are not available on the {user.tier} tier",
                            tier=user.tier)
        return user
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return await authenticate_bearer(config, store, services.jwks, auth[7:].strip())
    raise AuthError("Missing authentication: send x-api-key or Authorization: Bearer")
