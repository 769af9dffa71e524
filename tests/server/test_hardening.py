"""Hardening found in review, each on a real server on 127.0.0.1: long file names, deep or
oversized JSON, unbounded numbers and texts, schema and server agreeing, headers, and the
API-key listing rule."""
import io
import json
import os

import jsonschema
import pytest
import requests

MB = 1024 * 1024


def upload_url(server, acct, **body):
    return requests.post(server.url + "/upload-url", headers=acct.headers, json=body,
                         timeout=30)


def put_single(server, acct, name: str, data: bytes) -> requests.Response:
    plan = upload_url(server, acct, filename=name, file_size=len(data))
    assert plan.status_code == 200, plan.text
    return requests.put(plan.json()["upload_url"], data=data, timeout=30), plan.json()


@pytest.mark.parametrize("name_bytes", [217, 240, 255])
def test_long_file_names_upload_with_a_single_put(live_server, make_account, name_bytes):
    acct = make_account("researcher")
    name = "n" * (name_bytes - 4) + ".fil"
    assert len(name.encode()) == name_bytes
    put, plan = put_single(live_server, acct, name, os.urandom(1000))
    assert put.status_code == 200, put.text
    assert plan["file_key"].endswith("/" + name)
    stored = live_server.services.blobs.local_path(plan["file_key"])
    assert stored.stat().st_size == 1000


def test_long_file_names_complete_a_multipart_upload(start_server, make_account_on):
    server = start_server(multipart_threshold_mb=1, part_size=MB, min_part_size=MB)
    acct = make_account_on(server, "researcher")
    name = "m" * 251 + ".fil"                               # 255 bytes, the limit
    data = os.urandom(2 * MB + 5)
    plan = upload_url(server, acct, filename=name, file_size=len(data)).json()
    assert plan["multipart"] is True and len(plan["parts"]) == 3
    parts = []
    for i, part in enumerate(plan["parts"]):
        r = requests.put(part["url"], data=data[i * MB:(i + 1) * MB], timeout=30)
        assert r.status_code == 200, r.text
        parts.append({"partNumber": part["partNumber"], "etag": r.headers["ETag"]})
    r = requests.post(server.url + "/complete-upload", headers=acct.headers, timeout=30,
                      json={"file_key": plan["file_key"], "upload_id": plan["upload_id"],
                            "parts": parts})
    assert r.status_code == 200, r.text
    assert server.services.blobs.local_path(plan["file_key"]).read_bytes() == data


@pytest.mark.parametrize("name", ["x" * 252 + ".fil",          # 256 bytes
                                  "\u00e9" * 130 + ".fil"])     # 134 characters, 264 bytes
def test_file_names_over_255_bytes_are_refused_up_front(live_server, make_account, name):
    r = upload_url(live_server, make_account("researcher"), filename=name, file_size=10)
    assert r.status_code == 400, r.text
    assert r.json()["parameter"] == "filename"


@pytest.mark.parametrize("path", ["/analyze", "/upload-url", "/reports", "/api-keys"])
def test_json_nested_1000_deep_is_a_400(live_server, make_account, path):
    acct = make_account("researcher")
    for deep in ("[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000):
        r = requests.post(live_server.url + path, headers=acct.headers, data=deep, timeout=30)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] == "Invalid JSON body"


def test_oversized_body_is_a_413_with_a_json_body(live_server, make_account):
    acct = make_account("researcher")
    body = b'{"file_key": "' + b"k" * (17 * MB) + b'"}'
    for data in (body, io.BytesIO(body)):
        r = requests.post(live_server.url + "/analyze", headers=acct.headers, data=data,
                          timeout=60)
        assert r.status_code == 413
        assert r.json()["error"] == "Request body too large"
        assert r.json()["max_size"] == 16 * MB


@pytest.fixture
def paused(start_server, make_account_on):
    """A server that accepts jobs but runs none (max_workers=0), an account, an upload."""
    server = start_server(max_workers=0)
    acct = make_account_on(server, "researcher")
    put, plan = put_single(server, acct, "obs.fil", os.urandom(2000))
    assert put.status_code == 200
    return server, acct, plan["file_key"]


def analyze(server, acct, **body):
    return requests.post(server.url + "/analyze", headers=acct.headers, json=body, timeout=30)


def test_numbers_and_texts_are_bounded(paused):
    server, acct, key = paused
    refused = {"max_drift": 1e308, "min_drift": 1e308, "snr": 1e300, "n_coarse_chan": 2 ** 40,
               "source_name": "s" * 200_000, "filename": "f" * 300,
               "webhook_url": "http://example.org/" + "p" * 5000, "file_key": "k" * 5000,
               "cadence": [key] + ["k" * 5000] * 3}
    for name, value in refused.items():
        r = analyze(server, acct, **{"file_key": key, name: value})
        assert r.status_code == 400, (name, r.text)
        assert r.json()["parameter"] == name, r.json()
    assert requests.get(server.url + "/jobs", headers=acct.headers).json() == []


def test_request_schemas_bound_every_number_and_text(live_server):
    spec = requests.get(live_server.url + "/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name, schema in schemas.items():
        if not name.endswith("Request"):
            continue
        assert schema["additionalProperties"] is False, name
        for prop, sub in schema["properties"].items():
            sub = schemas[sub["$ref"].rsplit("/", 1)[-1]] if "$ref" in sub else sub
            items = sub.get("items", {})
            for s in (sub, items):
                if s.get("type") == "string":
                    assert "maxLength" in s, (name, prop)
                if s.get("type") in ("number", "integer"):
                    assert "maximum" in s, (name, prop)


def test_schema_and_server_agree(paused):
    """What the document refuses, the server refuses (400 naming the parameter), and what
    it allows (integral floats where an integer is expected) the server accepts."""
    server, acct, key = paused
    spec = requests.get(server.url + "/openapi.json").json()
    schema = {"$ref": "#/components/schemas/AnalyzeRequest", "components": spec["components"]}
    refused = [("snr", 0), ("max_drift", 0), ("n_coarse_chan", 0), ("file_key", ""),
               ("source_name", ""), ("filename", ""), ("bogus", 1), ("snr", None)]
    for name, value in refused:
        body = {"file_key": key, name: value}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(body)
        r = analyze(server, acct, **body)
        assert r.status_code == 400, (name, value, r.text)
        assert r.json()["parameter"] == name, r.json()
    body = {"file_key": key, "n_coarse_chan": 1.0, "snr": 12, "max_drift": 2}
    jsonschema.Draft202012Validator(schema).validate(body)
    r = analyze(server, acct, **body)
    assert r.status_code == 202, r.text
    job = server.services.job_store.get(r.json()["job_id"])
    assert job.params == {"n_coarse_chan": 1, "snr": 12.0, "max_drift": 2.0}
    assert isinstance(job.params["n_coarse_chan"], int)


def test_no_response_names_the_server_software(live_server, make_account):
    acct = make_account("researcher")
    for r in (requests.get(live_server.url + "/health"),
              requests.get(live_server.url + "/nope"),
              requests.get(live_server.url + "/usage"),
              requests.get(live_server.url + "/usage", headers=acct.headers),
              requests.post(live_server.url + "/analyze", headers=acct.headers, data="{")):
        assert r.headers["Server"] == "MitraSETI", r.headers
        assert "tornado" not in json.dumps(dict(r.headers)).lower()


def test_405_names_the_allowed_methods(live_server, make_account):
    acct = make_account("researcher")
    cases = {"/health": "GET", "/analyze": "POST", "/api-keys": "GET, POST",
             "/jobs": "GET"}
    for path, allowed in cases.items():
        r = requests.put(live_server.url + path, headers=acct.headers, timeout=30)
        assert r.status_code == 405, path
        assert r.headers["Allow"] == allowed, (path, r.headers)
        assert r.json() == {"error": "Method not allowed"}


def test_api_keys_listing_and_revoking_stay_open_after_a_downgrade(live_server,
                                                                     make_account):
    """Creating keys needs the Researcher tier; listing and revoking do not, so a user
    downgraded to free can still find and revoke the keys made before (docs/api.md)."""
    acct = make_account("researcher")
    store = live_server.services.store
    store.set_tier(acct.user.name, "free")
    r = requests.get(live_server.url + "/api-keys", headers=acct.bearer)
    assert r.status_code == 200
    assert [k["key_id"] for k in r.json()["keys"]] == [acct.key_id]
    assert requests.post(live_server.url + "/api-keys", headers=acct.bearer,
                         json={}).status_code == 403
    r = requests.delete(f"{live_server.url}/api-keys/{acct.key_id}", headers=acct.bearer)
    assert r.status_code == 200
    store.set_tier(acct.user.name, "researcher")       # upgraded again: the key stays dead
    assert requests.get(live_server.url + "/usage",
                        headers={"x-api-key": acct.api_key}).status_code == 403


def test_job_errors_show_no_server_paths():
    from mitraseti_server.jobs.executor import without_paths
    message = ("ObservationFormatError: /srv/data/blobs/objects/uploads/u1/k2/broken.fil: "
               "header ends early (read 12 of 512 bytes at /srv/x.py:4)")
    cleaned = without_paths(message)
    assert "/srv" not in cleaned and "broken.fil" in cleaned
    assert cleaned.startswith("ObservationFormatError: broken.fil: header ends early")
    url = "webhook http://example.org/a/b.json failed"
    assert without_paths(url) == url                      # URLs are not paths
