"""GET /openapi.json: a valid OpenAPI 3.1 document covering every endpoint, and real
responses of the running server validate against its schemas."""
import os

import jsonschema
import pytest
import requests
from openapi_spec_validator import validate

from mitraseti_server.auth.keys import create_api_key

ENDPOINTS = {"/health": {"get"}, "/upload-url": {"post"}, "/complete-upload": {"post"},
             "/abort-upload": {"post"}, "/analyze": {"post"}, "/jobs": {"get"},
             "/jobs/{job_id}": {"get", "delete"}, "/jobs/{job_id}/download": {"get"},
             "/jobs/{job_id}/cancel": {"post"}, "/jobs/{job_id}/retry": {"post"},
             "/usage": {"get"}, "/api-keys": {"get", "post"},
             "/api-keys/{keyId}": {"delete"}, "/reports": {"post"}}


@pytest.fixture
def spec(live_server):
    r = requests.get(live_server.url + "/openapi.json")      # open, like /health
    assert r.status_code == 200
    return r.json()


def check(spec, name, instance):
    """Validate ``instance`` against components/schemas/<name> of the served document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_document_is_valid_openapi_31(spec, live_server):
    validate(spec)                       # raises on an invalid document
    assert spec["openapi"].startswith("3.1")
    assert spec["servers"][0]["url"] == live_server.url
    for path, methods in ENDPOINTS.items():
        assert methods <= set(spec["paths"][path]), path
        for method in methods:
            op = spec["paths"][path][method]
            assert any(code.startswith("2") for code in op["responses"]), (path, method)
            if path != "/health":
                assert "403" in op["responses"], (path, method)
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {**schemes["ApiKeyAuth"], "type": "apiKey",
                                     "in": "header", "name": "x-api-key"}
    assert schemes["BearerAuth"]["scheme"] == "bearer"
    assert spec["paths"]["/health"]["get"]["security"] == []


def test_schemas_reject_wrong_shapes(spec):
    with pytest.raises(jsonschema.ValidationError):
        check(spec, "Health", {"status": "healthy"})
    with pytest.raises(jsonschema.ValidationError):
        check(spec, "ApiKeyInfo", {"key_id": "a", "name": "n", "created_at": 1,
                                   "expires_at": 2, "active": True, "expired": False,
                                   "api_key": "sk_live_leak"})


def test_live_responses_match_the_document(spec, start_server):
    # max_workers=0: jobs are accepted and stay queued, no pipeline process is spawned
    server = start_server(max_workers=0)
    store = server.services.store
    user = store.create_user("doc-user", "researcher")
    url, h = server.url, {"x-api-key": create_api_key(store, user.user_id).api_key}
    check(spec, "Health", requests.get(url + "/health").json())
    check(spec, "Usage", requests.get(url + "/usage", headers=h).json())
    created = requests.post(url + "/api-keys", headers=h, json={"name": "doc"}).json()
    check(spec, "ApiKeyCreated", created)
    check(spec, "ApiKeyList", requests.get(url + "/api-keys", headers=h).json())
    check(spec, "ApiKeyRevoked", requests.delete(f"{url}/api-keys/{created['key_id']}",
                                                 headers=h).json())
    single = requests.post(url + "/upload-url", headers=h,
                           json={"filename": "a.fil", "file_size": 10}).json()
    check(spec, "UploadSingle", single)
    multi = requests.post(url + "/upload-url", headers=h,
                          json={"filename": "b.h5", "file_size": 60 * 2**20}).json()
    check(spec, "UploadMultipart", multi)
    aborted = requests.post(url + "/abort-upload", headers=h, json={
        "file_key": multi["file_key"], "upload_id": multi["upload_id"]}).json()
    check(spec, "Message", aborted)
    for bad in (requests.get(url + "/usage"),
                requests.post(url + "/upload-url", headers=h, json={})):
        check(spec, "Error", bad.json())
    assert requests.put(single["upload_url"], data=os.urandom(10)).status_code == 200
    job = requests.post(url + "/analyze", headers=h,
                        json={"file_key": single["file_key"], "filename": "a.fil"})
    assert job.status_code == 202, job.text
    check(spec, "AnalyzeResponse", job.json())
    check(spec, "Job", requests.get(f"{url}/jobs/{job.json()['job_id']}",
                                    headers=h).json())
    check(spec, "JobList", requests.get(url + "/jobs", headers=h).json())
    report = requests.post(url + "/reports", headers=h,
                           json={"job_id": job.json()["job_id"]}).json()
    check(spec, "ReportCreated", report)
    job_url = f"{url}/jobs/{job.json()['job_id']}"
    cancelled = requests.post(job_url + "/cancel", headers=h)
    assert cancelled.status_code == 200, cancelled.text
    check(spec, "Job", cancelled.json())
    again = requests.delete(job_url, headers=h)
    assert again.status_code == 409 and "409" in spec["paths"]["/jobs/{job_id}"]["delete"][
        "responses"]
    check(spec, "Error", again.json())
    retried = requests.post(job_url + "/retry", headers=h)
    assert retried.status_code == 202, retried.text
    check(spec, "AnalyzeResponse", retried.json())
