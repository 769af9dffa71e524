"""POST/GET /api-keys and DELETE /api-keys/{keyId}.

The full key appears only in the POST response; listings show metadata. Tiers without
``api_keys`` (free) cannot create keys; listing and revoking stay open so a downgraded
user can still clean up.
"""
from __future__ import annotations

from .auth import DEFAULT_TTL_DAYS, create_api_key, get_key_owner, list_api_keys, \
    revoke_api_key
from .handlers_base import ApiError, BaseHandler

MAX_NAME = 100
WARNING = "Store this key securely. It will not be shown again."


class ApiKeysHandler(BaseHandler):
    def post(self) -> None:
        tier = self.config.tier(self.user.tier)
        if not tier.api_keys:
            raise ApiError(403, "Free tier cannot create API keys \u2014 upgrade required",
                           tier=self.user.tier)
        body = self.json_body()
        name = body.get("name", "Default")
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise ApiError(400, f"name must be a non-empty string of at most {MAX_NAME}"
                           " characters", name=name)
        ttl = body.get("ttl_days", DEFAULT_TTL_DAYS)
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 365:
            raise ApiError(400, "ttl_days must be an integer between 1 and 365",
                           ttl_days=ttl)
        key = create_api_key(self.store, self.user.user_id, name.strip(), ttl,
                             now=self.now())
        self.write_json({"key_id": key.key_id, "api_key": key.api_key,
                         "expires_at": key.expires_at, "ttl_days": key.ttl_days,
                         "warning": WARNING}, status=201)

    def get(self) -> None:
        self.write_json({"keys": list_api_keys(self.store, self.user.user_id,
                                               now=self.now())})


class ApiKeyHandler(BaseHandler):
    def delete(self, key_id: str) -> None:
        owner = get_key_owner(self.store, key_id)
        if owner is None:
            raise ApiError(404, "API key not found", key_id=key_id)
        if owner != self.user.user_id:
            raise ApiError(403, "API key belongs to a different user", key_id=key_id)
        revoke_api_key(self.store, key_id)
        self.write_json({"message": "API key revoked", "key_id": key_id})


HANDLERS = [
    (r"/api-keys", ApiKeysHandler),
    (r"/api-keys/([^/]+)", ApiKeyHandler),
]
