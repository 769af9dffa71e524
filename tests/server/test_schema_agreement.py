"""Generated bodies: the server refuses (400, naming a parameter) every body the served
OpenAPI schema refuses, and accepts the bodies it allows where no other rule applies."""
import jsonschema
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VALUES = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, 1, 2, 3, 90, 365, 366, -1, 10 ** 9]),
    st.sampled_from([0.0, 1.0, 2.5, 30.0, 1e308]),
    st.sampled_from(["", " ", "x", "Default", "pipeline_failure", "user_report", "crash",
                     "x" * 101, "obs.fil", "obs.txt"]),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.sampled_from("ab"),
                                                             st.integers(), max_size=2))

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def bodies(fields):
    return st.dictionaries(st.sampled_from(fields + ["bogus"]), VALUES, max_size=4)


@pytest.fixture
def validator(live_server):
    spec = requests.get(live_server.url + "/openapi.json", timeout=30).json()

    def make(name):
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        return jsonschema.Draft202012Validator(schema)

    return make


def check_refusal(r, body):
    assert r.status_code == 400, (body, r.text)
    assert r.json().get("parameter"), (body, r.json())


@SETTINGS
@given(body=bodies(["name", "ttl_days"]))
def test_api_key_bodies(live_server, make_account, validator, body):
    acct = make_account("researcher")
    r = requests.post(live_server.url + "/api-keys", headers=acct.headers, json=body,
                      timeout=30)
    if not validator("ApiKeyCreateRequest").is_valid(body):
        check_refusal(r, body)
    elif str(body.get("name", "Default")).strip():
        assert r.status_code == 201, (body, r.text)


@SETTINGS
@given(body=bodies(["job_id", "error_type", "description", "metadata"]))
def test_report_bodies(live_server, make_account, validator, body):
    acct = make_account("researcher")
    r = requests.post(live_server.url + "/reports", headers=acct.headers, json=body,
                      timeout=30)
    if not validator("ReportRequest").is_valid(body):
        check_refusal(r, body)
    else:
        assert r.status_code == 404 and r.json()["error"] == "Job not found", (body, r.text)


@SETTINGS
@given(body=bodies(["file_key", "filename", "source_name", "max_drift", "min_drift", "snr",
                    "n_coarse_chan", "filter_level"]))
def test_analyze_bodies(live_server, make_account, validator, body):
    acct = make_account("researcher")
    r = requests.post(live_server.url + "/analyze", headers=acct.headers, json=body,
                      timeout=30)
    if not validator("AnalyzeRequest").is_valid(body):
        check_refusal(r, body)
    else:      # the service's own rules (files, drift order, cadence) come after the schema
        assert r.status_code in (400, 404), (body, r.text)
