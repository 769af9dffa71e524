"""POST/GET /api-keys, DELETE /api-keys/{keyId}: creation, masking, expiry, revocation."""
import hashlib
import re

import requests
from dbutil import execute, rows

KEY_FORMAT = re.compile(r"^sk_live_[0-9a-f]{8}_[A-Za-z0-9_-]{43,}$")
LIST_FIELDS = {"key_id", "name", "created_at", "expires_at", "active", "expired"}


def test_create_key_shown_once_and_usable(live_server, make_account):
    acct = make_account("researcher")
    r = requests.post(live_server.url + "/api-keys", headers=acct.headers,
                      json={"name": "production-v1", "ttl_days": 30})
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"key_id", "api_key", "expires_at", "ttl_days", "warning"}
    assert KEY_FORMAT.match(body["api_key"])
    assert body["api_key"].startswith(f"sk_live_{body['key_id']}_")
    assert body["ttl_days"] == 30
    assert "not be shown again" in body["warning"]
    new = {"x-api-key": body["api_key"]}
    assert requests.get(live_server.url + "/usage", headers=new).json()["user_id"] == \
        acct.user.user_id

    # only a SHA-256 digest is stored, never the key itself
    found = rows(live_server.services.store, "SELECT * FROM api_keys WHERE key_id=:k",
                 k=body["key_id"])
    assert len(found) == 1
    assert all(body["api_key"] not in str(v) for v in found[0].values())
    assert found[0]["digest"] == hashlib.sha256(body["api_key"].encode()).hexdigest()

    listing = requests.get(live_server.url + "/api-keys", headers=acct.headers)
    assert listing.status_code == 200
    assert "sk_live_" not in listing.text
    keys = {k["key_id"]: k for k in listing.json()["keys"]}
    mine = keys[body["key_id"]]
    assert set(mine) == LIST_FIELDS
    assert mine["name"] == "production-v1"
    assert mine["active"] is True and mine["expired"] is False
    assert mine["expires_at"] - mine["created_at"] == 30 * 86400
    assert mine["expires_at"] == body["expires_at"]


def test_defaults_name_and_90_days(live_server, make_account):
    acct = make_account("institution")
    body = requests.post(live_server.url + "/api-keys", headers=acct.headers).json()
    assert body["ttl_days"] == 90
    info = [k for k in requests.get(live_server.url + "/api-keys", headers=acct.headers)
            .json()["keys"] if k["key_id"] == body["key_id"]][0]
    assert info["name"] == "Default"
    assert info["expires_at"] - info["created_at"] == 90 * 86400


def test_invalid_ttl_and_name_are_400(live_server, make_account):
    acct = make_account("researcher")
    for ttl in (0, 366, -1, "30", 1.5, True, None):
        r = requests.post(live_server.url + "/api-keys", headers=acct.headers,
                          json={"ttl_days": ttl})
        assert r.status_code == 400, (ttl, r.text)
        assert "ttl_days" in r.json()["error"]
    for name in ("", 7, "x" * 101):
        r = requests.post(live_server.url + "/api-keys", headers=acct.headers,
                          json={"name": name})
        assert r.status_code == 400, (name, r.text)
    r = requests.post(live_server.url + "/api-keys", headers=acct.headers, data="{nope")
    assert r.status_code == 400 and r.json() == {"error": "Invalid JSON body"}
    for ttl in (1, 365):
        r = requests.post(live_server.url + "/api-keys", headers=acct.headers,
                          json={"ttl_days": ttl})
        assert r.status_code == 201, r.text


def test_free_tier_cannot_create_keys(live_server, make_account):
    acct = make_account("free")          # authenticates with a local JWT
    r = requests.post(live_server.url + "/api-keys", headers=acct.headers, json={})
    assert r.status_code == 403
    assert r.json() == {"error": "Free tier cannot create API keys \u2014 upgrade required",
                        "tier": "free"}


def test_no_auth_is_403(live_server):
    for method in ("get", "post"):
        r = getattr(requests, method)(live_server.url + "/api-keys")
        assert r.status_code == 403 and "error" in r.json()
    assert requests.delete(live_server.url + "/api-keys/abcd1234").status_code == 403


def test_expired_key_is_listed_as_expired_and_rejected(live_server, make_account):
    acct = make_account("researcher")
    other = requests.post(live_server.url + "/api-keys", headers=acct.headers,
                          json={"name": "old-test", "ttl_days": 1}).json()
    # move the clock: set the expiry into the past in the real SQLite file
    execute(live_server.services.store,
            "UPDATE api_keys SET expires_at = created_at - 10 WHERE key_id=:k",
            k=other["key_id"])
    r = requests.get(live_server.url + "/usage", headers={"x-api-key": other["api_key"]})
    assert r.status_code == 403
    assert "expired" in r.json()["error"].lower()
    info = [k for k in requests.get(live_server.url + "/api-keys", headers=acct.headers)
            .json()["keys"] if k["key_id"] == other["key_id"]][0]
    assert info == {**info, "active": True, "expired": True}


def test_revoke_own_key_other_users_key_and_unknown(live_server, make_account):
    alice, bob = make_account("researcher"), make_account("researcher")
    created = requests.post(live_server.url + "/api-keys", headers=alice.headers,
                            json={"name": "to-revoke"}).json()
    kid = created["key_id"]
    r = requests.delete(f"{live_server.url}/api-keys/{kid}", headers=bob.headers)
    assert r.status_code == 403 and r.json()["error"] == "API key belongs to a different user"
    r = requests.delete(f"{live_server.url}/api-keys/0000zzzz", headers=alice.headers)
    assert r.status_code == 404 and r.json()["error"] == "API key not found"
    r = requests.delete(f"{live_server.url}/api-keys/{kid}", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {"message": "API key revoked", "key_id": kid}
    r = requests.get(live_server.url + "/usage", headers={"x-api-key": created["api_key"]})
    assert r.status_code == 403 and "revoked" in r.json()["error"]
    listed = [k for k in requests.get(live_server.url + "/api-keys", headers=alice.headers)
              .json()["keys"] if k["key_id"] == kid][0]
    assert listed["active"] is False
    # bob's own keys are unaffected and bob never sees alice's keys
    bob_keys = requests.get(live_server.url + "/api-keys", headers=bob.headers).json()["keys"]
    assert kid not in {k["key_id"] for k in bob_keys}
