"""Authentication on a live server: API keys, local JWTs, OIDC id_tokens via a real JWKS
endpoint on loopback, concurrency, and the admin CLI / serve command against the same
data dir while the server runs."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from dbutil import rows

from mitraseti_server.auth.tokens import issue_token

ISSUER = "https://cognito-idp.test/pool-1"
AUDIENCE = "client-abc"


def test_missing_and_malformed_credentials_are_403(live_server):
    url = live_server.url + "/usage"
    for headers in ({}, {"x-api-key": "sk_live_nothing"}, {"x-api-key": "garbage"},
                    {"x-api-key": "sk_live_0123abcd_" + "A" * 43},
                    {"Authorization": "Bearer"}, {"Authorization": "Bearer not.a.jwt"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        r = requests.get(url, headers=headers)
        assert r.status_code == 403, headers
        assert r.headers["Content-Type"].startswith("application/json")
        assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_valid_key_and_tampered_secret(live_server, make_account):
    acct = make_account("researcher")
    assert requests.get(live_server.url + "/usage", headers=acct.headers).status_code == 200
    tampered = acct.api_key[:-1] + ("A" if acct.api_key[-1] != "A" else "B")
    r = requests.get(live_server.url + "/usage", headers={"x-api-key": tampered})
    assert r.status_code == 403 and r.json()["error"] == "Invalid API key"


def test_api_key_of_a_tier_without_api_access_is_403(live_server, make_account):
    acct = make_account("researcher")
    live_server.services.store.set_tier(acct.user.name, "free")
    r = requests.get(live_server.url + "/usage", headers=acct.headers)
    assert r.status_code == 403 and r.json()["tier"] == "free"
    assert requests.get(live_server.url + "/usage", headers=acct.bearer).status_code == 200


def test_local_jwt(live_server, make_account):
    acct = make_account("free")
    cfg = live_server.services.config
    r = requests.get(live_server.url + "/usage", headers=acct.bearer)
    assert r.status_code == 200 and r.json()["user_id"] == acct.user.user_id
    expired = issue_token(cfg, acct.user, ttl_s=60, now=time.time() - 3600)
    r = requests.get(live_server.url + "/usage",
                     headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 403 and "expired" in r.json()["error"]
    head, payload, sig = acct.token.split(".")
    bad_sig = ".".join([head, payload, sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")])
    forged = jwt.encode({"iss": cfg.jwt_issuer, "sub": acct.user.user_id,
                         "exp": time.time() + 60}, b"x" * 32, algorithm="HS256")
    foreign = jwt.encode({"iss": "someone-else", "sub": acct.user.user_id,
                          "exp": time.time() + 60}, cfg.secret_key, algorithm="HS256")
    ghost = jwt.encode({"iss": cfg.jwt_issuer, "sub": "no-such-user",
                        "exp": time.time() + 60}, cfg.secret_key, algorithm="HS256")
    for token in (bad_sig, forged, foreign, ghost):
        r = requests.get(live_server.url + "/usage",
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403, token


# ---- OIDC / Cognito through a real JWKS endpoint ---------------------------------------
class Jwks:
    """A JWKS document served on 127.0.0.1; counts fetches."""

    def __init__(self):
        self.keys: list[dict] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, kid: str):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return key


def id_token(key, kid, **claims):
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "sub-0001", "token_use": "id",
            "cognito:username": "carol", "iat": now, "exp": now + 600}
    base.update(claims)
    return jwt.encode(base, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def oidc_server(start_server):
    jwks = Jwks()
    server = start_server(oidc_issuer=ISSUER, oidc_audience=AUDIENCE,
                          oidc_jwks_url=jwks.url, jwks_min_refresh_s=0.0)
    yield server, jwks
    jwks.server.shutdown()


def test_oidc_id_tokens(oidc_server):
    server, jwks = oidc_server
    key1 = jwks.add("kid-1")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def get(token):
        return requests.get(server.url + "/usage",
                            headers={"Authorization": f"Bearer {token}"})

    r = get(id_token(key1, "kid-1"))
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["tier"] == "free"                    # auto-created on first sight
    user = server.services.store.get_user(first["user_id"])
    assert user.name == "carol"
    assert get(id_token(key1, "kid-1")).json()["user_id"] == first["user_id"]
    assert jwks.fetches == 1                          # cached between requests

    rejected = {
        "wrong audience": id_token(key1, "kid-1", aud="someone-else"),
        "wrong issuer": id_token(key1, "kid-1", iss="https://evil.test"),
        "expired": id_token(key1, "kid-1", exp=int(time.time()) - 10),
        "access token": id_token(key1, "kid-1", token_use="access"),
        "bad signature": id_token(other, "kid-1"),
        "unknown kid": id_token(other, "kid-9"),
    }
    for why, token in rejected.items():
        r = get(token)
        assert r.status_code == 403, why
        assert r.json()["error"], why

    # key rotation: an unknown kid makes the server refetch the JWKS
    key2 = jwks.add("kid-2")
    r = get(id_token(key2, "kid-2", sub="sub-0002", **{"cognito:username": "dave"}))
    assert r.status_code == 200
    assert r.json()["user_id"] != first["user_id"]


# ---- concurrency -----------------------------------------------------------------------
def test_concurrent_requests(live_server, make_account):
    accounts = [make_account("researcher") for _ in range(4)]

    def call(i):
        acct = accounts[i % 4]
        r = requests.get(live_server.url + "/usage", headers=acct.headers)
        k = requests.post(live_server.url + "/api-keys", headers=acct.headers,
                          json={"name": f"k{i}"})
        return r.status_code, r.json()["user_id"] == acct.user.user_id, k.status_code

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(24)))
    assert results == [(200, True, 201)] * 24
    n = rows(live_server.services.store,
             "SELECT COUNT(*) AS n FROM api_keys WHERE name LIKE 'k%'")[0]["n"]
    assert n == 24


# ---- command line ----------------------------------------------------------------------
def _cli(*args, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    return subprocess.run([sys.executable, "-m", "mitraseti_server", *args,
                           "--data-dir", str(data_dir)], capture_output=True, text=True,
                          env=env, timeout=60)


def test_admin_commands_while_server_runs(live_server):
    data_dir = live_server.config.data_dir
    out = _cli("admin", "create-user", "erin", "--tier", "researcher", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    user_id = re.search(r"user_id: (\S+)", out.stdout).group(1)
    key = re.search(r"api_key: (sk_live_\S+)", out.stdout).group(1)
    r = requests.get(live_server.url + "/usage", headers={"x-api-key": key})
    assert r.status_code == 200 and r.json()["user_id"] == user_id
    assert r.json()["tier"] == "researcher"

    assert _cli("admin", "set-tier", "erin", "institution", data_dir=data_dir).returncode == 0
    r = requests.get(live_server.url + "/usage", headers={"x-api-key": key})
    assert r.json()["tier"] == "institution" and r.json()["limit"] == 5000

    out = _cli("admin", "token", "erin", data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    r = requests.get(live_server.url + "/usage",
                     headers={"Authorization": f"Bearer {out.stdout.strip()}"})
    assert r.status_code == 200 and r.json()["user_id"] == user_id

    dup = _cli("admin", "create-user", "erin", data_dir=data_dir)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    missing = _cli("admin", "token", "nobody", data_dir=data_dir)
    assert missing.returncode == 2 and "nobody" in missing.stderr


def _start_serve(data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITRASETI_")}
    proc = subprocess.Popen([sys.executable, "-m", "mitraseti_server", "serve", "--port",
                             "0", "--dashboard-port", "0", "--data-dir", str(data_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    lines = []
    for line in proc.stdout:                 # the banner ends with the admin hint
        lines.append(line)
        if line.startswith("Admin:"):
            break
    return proc, "".join(lines)


def test_serve_first_start_prints_key_once(tmp_path):
    proc, banner = _start_serve(tmp_path / "svc")
    try:
        url = re.search(r"listening on (http://\S+)", banner).group(1)
        key = re.search(r"^\s+(sk_live_\S+)$", banner, re.M).group(1)
        assert f"curl {url}/health" in banner
        assert f'curl -H "x-api-key: {key}" {url}/jobs' in banner
        assert requests.get(url + "/health").json() == {"status": "healthy",
                                                        "version": "0.3.0"}
        usage = requests.get(url + "/usage", headers={"x-api-key": key}).json()
        assert usage["tier"] == "researcher"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    proc, banner = _start_serve(tmp_path / "svc")     # second start: no new key
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert "sk_live_" not in banner.replace("<your API key>", "")
