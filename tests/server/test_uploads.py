"""Uploads on a live server: /upload-url errors, signed single PUTs (streamed, MD5 ETag,
size limits, tampering, expiry), one real multipart upload (> 50 MB in 10 MB parts) with
S3's completion errors, abort, path-safety of file keys, and the stale-upload sweep."""
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from dbutil import rows


MB = 1024 * 1024
SINGLE_FIELDS = {"upload_url", "file_key", "expires_in", "max_size_mb", "multipart"}


def upload_url(server, acct, **body):
    return requests.post(server.url + "/upload-url", headers=acct.headers, json=body)


def with_query(url, **changes):
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_upload_url_errors(live_server, make_account):
    acct = make_account("researcher")
    cases = [({}, 400, "Missing filename"), ({"filename": ""}, 400, "Missing filename"),
             ({"filename": "obs.txt"}, 400, "Unsupported file type"),
             ({"filename": "obs.fil.zip"}, 400, "Unsupported file type"),
             ({"filename": "../obs.fil"}, 400, "Invalid filename"),
             ({"filename": "a/b.h5"}, 400, "Invalid filename"),
             ({"filename": "obs.fil", "file_size": "100"}, 400, "file_size"),
             ({"filename": "obs.fil", "file_size": -1}, 400, "file_size"),
             ({"filename": "obs.fil", "file_size": 1.5}, 400, "file_size"),
             ({"filename": "obs.fil", "file_size": True}, 400, "file_size")]
    for body, status, text in cases:
        r = upload_url(live_server, acct, **body)
        assert r.status_code == status, (body, r.text)
        assert text in r.json()["error"], body
    r = requests.post(live_server.url + "/upload-url", headers=acct.headers, data="[1")
    assert r.status_code == 400 and r.json() == {"error": "Invalid JSON body"}
    r = requests.post(live_server.url + "/upload-url", json={"filename": "obs.fil"})
    assert r.status_code == 403

    free = make_account("free")                       # 50 MB limit
    r = upload_url(live_server, free, filename="big.h5", file_size=50 * MB + 1)
    assert r.status_code == 413
    assert r.json() == {"error": "File exceeds tier size limit", "file_size": 50 * MB + 1,
                        "max_size_mb": 50, "tier": "free"}
    assert upload_url(live_server, free, filename="ok.H5", file_size=50 * MB).status_code == 200


def test_single_upload_streams_and_returns_md5_etag(live_server, make_account, tmp_path):
    acct = make_account("researcher")
    data = os.urandom(3 * MB + 17)
    r = upload_url(live_server, acct, filename="observation.fil", file_size=len(data))
    assert r.status_code == 200
    body = r.json()
    assert set(body) == SINGLE_FIELDS
    assert body["multipart"] is False and body["expires_in"] == 3600
    assert body["max_size_mb"] == 1024
    key = body["file_key"]
    assert key.startswith(f"uploads/{acct.user.user_id}/") and key.endswith("/observation.fil")

    def chunks():                                     # chunked transfer: no length known
        for i in range(0, len(data), 256 * 1024):
            yield data[i:i + 256 * 1024]

    put = requests.put(body["upload_url"], data=chunks(),
                       headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    blobs = live_server.services.blobs
    assert blobs.local_path(key).read_bytes() == data
    row, = rows(live_server.services.store, "SELECT state FROM uploads WHERE file_key=:k",
                k=key)
    assert row["state"] == "complete"

    # a signed GET URL serves it back with type and file name
    got = requests.get(blobs.signed_url(key, "GET", filename="observation.fil"))
    assert got.status_code == 200 and got.content == data
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["Content-Disposition"] == 'attachment; filename="observation.fil"'


def test_upload_without_size_is_capped_by_tier(live_server, make_account):
    acct = make_account("researcher")
    body = upload_url(live_server, acct, filename="x.h5").json()
    assert body["multipart"] is False
    assert dict(parse_qsl(urlsplit(body["upload_url"]).query))["max_size"] == str(1024 * MB)
    assert requests.put(body["upload_url"], data=b"hdf").status_code == 200


def test_oversize_body_rejected_and_partial_removed(live_server, make_account):
    acct = make_account("researcher")
    blobs = live_server.services.blobs
    for streamed in (False, True):
        body = upload_url(live_server, acct, filename="o.fil", file_size=1000).json()
        payload = os.urandom(1500)
        data = iter([payload[:700], payload[700:]]) if streamed else payload
        r = requests.put(body["upload_url"], data=data)
        assert r.status_code == 413, streamed
        assert r.json()["error"] == "EntityTooLarge" and r.json()["max_size"] == 1000
        path = blobs.local_path(body["file_key"])
        assert not path.exists()
        assert not path.parent.exists() or list(path.parent.iterdir()) == []


def test_tampered_expired_and_wrong_method_urls_are_403(live_server, make_account):
    acct = make_account("researcher")
    body = upload_url(live_server, acct, filename="t.fil", file_size=100).json()
    url = body["upload_url"]
    sig = dict(parse_qsl(urlsplit(url).query))["X-Signature"]
    bad = [with_query(url, **{"X-Signature": sig[:-1] + ("0" if sig[-1] != "0" else "1")}),
           with_query(url, max_size="999999999"),
           with_query(url, **{"X-Expires": str(int(time.time()) + 10**6)}),
           url.replace("/t.fil?", "/u.fil?")]
    for tampered in bad:
        r = requests.put(tampered, data=b"x" * 10)
        assert r.status_code == 403, tampered
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.json()["error"]
    assert requests.get(url).status_code == 403           # signed for PUT only
    blobs = live_server.services.blobs
    expired = blobs.presign_put(body["file_key"], "x", 100, expires_in=-5)
    r = requests.put(expired, data=b"x")
    assert r.status_code == 403 and "expired" in r.json()["message"]
    unsigned = url.split("?")[0]
    assert requests.put(unsigned, data=b"x").status_code == 403
    assert not blobs.local_path(body["file_key"]).exists()
    assert requests.put(url, data=b"y" * 100).status_code == 200   # the real URL works


def test_multipart_upload(live_server, make_account, tmp_path):
    acct = make_account("researcher")
    size = 52 * MB + 12345                                # > 50 MB -> 6 parts
    src = tmp_path / "large_file.fil"
    with open(src, "wb") as fh:
        for _ in range(52):
            fh.write(os.urandom(MB))
        fh.write(os.urandom(12345))
    r = upload_url(live_server, acct, filename="large_file.fil", file_size=size)
    assert r.status_code == 200
    up = r.json()
    assert set(up) == {"multipart", "upload_id", "file_key", "parts", "part_size",
                       "max_size_mb", "expires_in"}
    assert up["multipart"] is True and up["part_size"] == 10485760
    assert [p["partNumber"] for p in up["parts"]] == [1, 2, 3, 4, 5, 6]

    def put_part(part, data):
        resp = requests.put(part["url"], data=data)
        assert resp.status_code == 200, resp.text
        return {"partNumber": part["partNumber"], "etag": resp.headers["ETag"]}

    done = []
    with open(src, "rb") as fh:
        for part in up["parts"]:
            done.append(put_part(part, fh.read(up["part_size"])))

    def complete(parts, key=up["file_key"], upload_id=up["upload_id"]):
        return requests.post(live_server.url + "/complete-upload", headers=acct.headers,
                             json={"file_key": key, "upload_id": upload_id, "parts": parts})

    wrong_etag = [dict(p) for p in done]
    wrong_etag[2]["etag"] = '"00000000000000000000000000000000"'
    r = complete(wrong_etag)
    assert r.status_code == 400 and r.json()["error"] == "InvalidPart"
    r = complete(done + [{"partNumber": 7, "etag": done[0]["etag"]}])
    assert r.status_code == 400 and r.json()["error"] == "InvalidPart"
    r = complete([done[1], done[0]] + done[2:])
    assert r.status_code == 400 and r.json()["error"] == "InvalidPartOrder"
    r = complete([{"partNumber": "1", "etag": "x"}])
    assert r.status_code == 400
    r = complete(done, upload_id="f" * 32)
    assert r.status_code == 404 and r.json()["error"] == "NoSuchUpload"
    # a non-last part below 5 MiB: S3's EntityTooSmall
    small = put_part(up["parts"][1], b"z" * MB)
    r = complete([done[0], small] + done[2:])
    assert r.status_code == 400 and r.json()["error"] == "EntityTooSmall"
    with open(src, "rb") as fh:                           # re-upload part 2 properly
        fh.seek(up["part_size"])
        done[1] = put_part(up["parts"][1], fh.read(up["part_size"]))

    r = complete(done)
    assert r.status_code == 200
    assert r.json() == {"message": "Upload complete", "file_key": up["file_key"]}
    final = live_server.services.blobs.local_path(up["file_key"])
    with open(src, "rb") as a, open(final, "rb") as b:
        assert hashlib.md5(a.read()).digest() == hashlib.md5(b.read()).digest()
    assert complete(done).status_code == 404              # already finished


def test_abort_upload(live_server, make_account):
    acct = make_account("researcher")
    up = upload_url(live_server, acct, filename="a.fil", file_size=60 * MB).json()
    assert requests.put(up["parts"][0]["url"], data=b"p" * 1000).status_code == 200
    updir = live_server.services.blobs.multipart / up["upload_id"]
    assert updir.is_dir()
    body = {"file_key": up["file_key"], "upload_id": up["upload_id"]}
    other = make_account("researcher")
    r = requests.post(live_server.url + "/abort-upload", headers=other.headers, json=body)
    assert r.status_code == 403
    r = requests.post(live_server.url + "/abort-upload", headers=acct.headers, json=body)
    assert r.status_code == 200 and r.json() == {"message": "Upload aborted"}
    assert not updir.exists()
    r = requests.post(live_server.url + "/abort-upload", headers=acct.headers, json=body)
    assert r.status_code == 404 and r.json()["error"] == "NoSuchUpload"
    r = requests.post(live_server.url + "/complete-upload", headers=acct.headers,
                      json={**body, "parts": [{"partNumber": 1, "etag": "x"}]})
    assert r.status_code == 404
    # a part PUT after the abort has nowhere to go
    assert requests.put(up["parts"][1]["url"], data=b"p").status_code == 404
    for missing in ({"upload_id": "x"}, {"file_key": up["file_key"]}):
        r = requests.post(live_server.url + "/abort-upload", headers=acct.headers,
                          json=missing)
        assert r.status_code == 400


def test_file_keys_outside_the_users_prefix_are_rejected(live_server, make_account):
    acct, other = make_account("researcher"), make_account("researcher")
    uid = acct.user.user_id
    bad = {f"uploads/{uid}/../../secret.key": 400, "/etc/passwd": 400,
           f"uploads/{uid}/x/\x00.fil": 400, f"uploads\\{uid}\\x\\a.fil": 400,
           f"uploads/{uid}//a.fil": 400, "../secret.key": 400,
           f"uploads/{other.user.user_id}/x/a.fil": 403}
    for key, status in bad.items():
        for path in ("/complete-upload", "/abort-upload"):
            body = {"file_key": key, "upload_id": "abc"}
            if path == "/complete-upload":
                body["parts"] = [{"partNumber": 1, "etag": "x"}]
            r = requests.post(live_server.url + path, headers=acct.headers, json=body)
            assert r.status_code == status, (key, path, r.text)
    # the blob route never reads outside the store, signed or not
    secret = live_server.services.config.secret_key
    for path in ("/blobs/..%2F..%2Fsecret.key", "/blobs/uploads/%2e%2e/%2e%2e/secret.key"):
        r = requests.get(live_server.url + path + "?X-Method=GET&X-Expires=9999999999"
                         "&X-Signature=00")
        assert r.status_code in (400, 403, 404)
        assert secret not in r.content


def test_concurrent_single_uploads(live_server, make_account):
    acct = make_account("researcher")

    def one(i):
        data = os.urandom(200_000 + i)
        body = upload_url(live_server, acct, filename=f"c{i}.fil", file_size=len(data)).json()
        put = requests.put(body["upload_url"], data=data)
        return put.status_code, put.headers.get("ETag") == f'"{hashlib.md5(data).hexdigest()}"'

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(one, range(12))) == [(200, True)] * 12


def test_sweep_stale_uploads(live_server, make_account):
    acct = make_account("researcher")
    services = live_server.services
    multi = upload_url(live_server, acct, filename="s.fil", file_size=55 * MB).json()
    single = upload_url(live_server, acct, filename="s.h5", file_size=10).json()
    done = upload_url(live_server, acct, filename="d.h5", file_size=3).json()
    assert requests.put(done["upload_url"], data=b"abc").status_code == 200
    assert services.uploads.sweep_stale() == 0             # nothing is stale yet
    later = time.time() + services.config.stale_upload_s + 60
    assert services.uploads.sweep_stale(now=later) == 2
    states = {r["upload_id"]: r["state"] for r in rows(
        services.store, "SELECT upload_id, state FROM uploads WHERE user_id=:u",
        u=acct.user.user_id)}
    assert states[multi["upload_id"]] == "aborted"
    assert list(states.values()).count("complete") == 1
    assert not (services.blobs.multipart / multi["upload_id"]).exists()
    assert services.blobs.exists(done["file_key"])        # finished uploads are kept
    assert requests.put(single["upload_url"], data=b"0123456789").status_code == 404
