"""Bearer tokens: locally issued JWTs and OIDC/Cognito id_tokens, and the request check.

Local JWTs are HS256 with the service secret (``iss`` = ``config.jwt_issuer``, ``sub`` =
user_id). OIDC id_tokens are RS256, checked against ``config.oidc_issuer`` /
``oidc_audience`` and keys from ``oidc_jwks_url``. ``authenticate_request`` finds the user
behind a request's ``x-api-key`` or ``Authorization: Bearer`` header.
"""
from __future__ import annotations

import json
import secrets
import time

import jwt
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from mitraseti_server.auth.keys import authenticate_api_key
from mitraseti_server.errors import AuthError, StoreError
from mitraseti_server.storage.database import Store, User


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


async def authenticate_request(config, store: Store, jwks: JwksCache | None,
                               headers) -> User:
    """The user behind a request's ``x-api-key`` or ``Authorization: Bearer`` header."""
    api_key = headers.get("x-api-key")
    if api_key:
        user = authenticate_api_key(store, api_key, now=config.now())
        if not config.tier(user.tier).api_keys:
            raise AuthError(f"API keys are not available on the {user.tier} tier",
                            tier=user.tier)
        return user
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return await authenticate_bearer(config, store, jwks, auth[7:].strip())
    raise AuthError("Missing authentication: send x-api-key or Authorization: Bearer")
