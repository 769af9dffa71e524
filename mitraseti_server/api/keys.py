"""POST/GET /api-keys and DELETE /api-keys/{keyId}.

The full key appears only in the POST response; listings show metadata. Tiers without
``api_keys`` (free) cannot create keys (403). Listing and revoking stay open to every tier:
a user downgraded to free must still see and revoke the keys made before, which would work
again after an upgrade (docs/api.md).
"""
from __future__ import annotations

from mitraseti.errors import ParameterError
from mitraseti_server.api.base import BaseHandler
from mitraseti_server.auth.keys import (DEFAULT_TTL_DAYS, create_api_key, list_api_keys,
                                        revoke_own_key)
from mitraseti_server.errors import Forbidden

WARNING = "Store this key securely. It will not be shown again."


class ApiKeysHandler(BaseHandler):
    async def post(self) -> None:
        if not self.config.tier(self.user.tier).api_keys:
            raise Forbidden("Free tier cannot create API keys \u2014 upgrade required",
                            tier=self.user.tier)
        body = self.body("ApiKeyCreateRequest")
        name = body.get("name", "Default").strip()
        if not name:
            raise ParameterError("Missing name", parameter="name", expected="a non-blank name")
        key = await self.blocking(create_api_key, self.store, self.user.user_id, name,
                                  body.get("ttl_days", DEFAULT_TTL_DAYS), self.now())
        self.write_json({"key_id": key.key_id, "api_key": key.api_key,
                         "expires_at": key.expires_at, "ttl_days": key.ttl_days,
                         "warning": WARNING}, status=201)

    async def get(self) -> None:
        keys = await self.blocking(list_api_keys, self.store, self.user.user_id, self.now())
        self.write_json({"keys": keys})


class ApiKeyHandler(BaseHandler):
    async def delete(self, key_id: str) -> None:
        await self.blocking(revoke_own_key, self.store, self.user, key_id)
        self.write_json({"message": "API key revoked", "key_id": key_id})


HANDLERS = [
    (r"/api-keys", ApiKeysHandler),
    (r"/api-keys/([^/]+)", ApiKeyHandler),
]
