"""The S3 backend against a real S3 server on loopback (moto's threaded server): presigned
single and multipart uploads through the live REST service, S3's completion errors,
abort, signed downloads, local copies and prefix deletion."""
import hashlib
import os

import pytest
import requests

from mitraseti_server.errors import BlobError

MB = 1024 * 1024



@pytest.fixture
def s3_server(start_server, s3_endpoint):
    # multipart_threshold_mb=1 (a config option) keeps the multipart test small; the
    # contract's 10 MB parts and S3's 5 MiB minimum part size stay as they are.
    return start_server(storage="s3", s3_bucket="mitraseti-test",
                        s3_endpoint_url=s3_endpoint, s3_access_key_id="testing",
                        s3_secret_access_key="testing", multipart_threshold_mb=1,
                        max_workers=0)


def test_single_upload_and_signed_download(s3_server, make_account_s3):
    acct, url = make_account_s3(s3_server), s3_server.url
    data = os.urandom(300_000)
    up = requests.post(url + "/upload-url", headers=acct,
                       json={"filename": "obs.h5", "file_size": 1000}).json()
    assert up["multipart"] is False
    assert "/blobs/" not in up["upload_url"]            # presigned by S3 itself
    assert requests.put(up["upload_url"], data=data).status_code == 200
    blobs = s3_server.services.blobs
    assert blobs.exists(up["file_key"]) and blobs.size(up["file_key"]) == len(data)
    assert blobs.local_path(up["file_key"]).read_bytes() == data
    with blobs.open(up["file_key"]) as fh:
        assert fh.read() == data
    got = requests.get(blobs.signed_url(up["file_key"], "GET", filename="obs.h5"))
    assert got.status_code == 200 and got.content == data
    assert "obs.h5" in got.headers["Content-Disposition"]

    job_key = f"jobs/{acct_id(s3_server)}/job-1/results.json"
    blobs.put_bytes(job_key, b"{}")
    blobs.put_file(f"jobs/{acct_id(s3_server)}/job-1/copy.h5",
                   blobs.local_path(up["file_key"]))
    assert blobs.delete_prefix(f"jobs/{acct_id(s3_server)}/job-1") == 2
    assert not blobs.exists(job_key)
    with pytest.raises(BlobError) as err:
        blobs.size(job_key)
    assert err.value.status == 404


def test_multipart_upload_through_s3(s3_server, make_account_s3, tmp_path):
    acct, url = make_account_s3(s3_server), s3_server.url
    data = os.urandom(12 * MB + 5)
    up = requests.post(url + "/upload-url", headers=acct,
                       json={"filename": "big.fil", "file_size": len(data)}).json()
    assert up["multipart"] is True and up["part_size"] == 10 * MB
    assert len(up["parts"]) == 2
    done = []
    for i, part in enumerate(up["parts"]):
        r = requests.put(part["url"], data=data[i * up["part_size"]:(i + 1) * up["part_size"]])
        assert r.status_code == 200, r.text
        done.append({"partNumber": part["partNumber"], "etag": r.headers["ETag"]})

    def complete(parts):
        return requests.post(url + "/complete-upload", headers=acct, json={
            "file_key": up["file_key"], "upload_id": up["upload_id"], "parts": parts})

    r = complete([done[0], {"partNumber": 2, "etag": '"' + "0" * 32 + '"'}])
    assert r.status_code == 400 and r.json()["error"] == "InvalidPart"
    r = complete([done[1], done[0]])
    assert r.status_code == 400 and r.json()["error"] == "InvalidPartOrder"
    r = complete(done)
    assert r.status_code == 200 and r.json()["file_key"] == up["file_key"]
    local = s3_server.services.blobs.local_path(up["file_key"])
    assert hashlib.md5(local.read_bytes()).digest() == hashlib.md5(data).digest()


def test_abort_through_s3(s3_server, make_account_s3):
    acct, url = make_account_s3(s3_server), s3_server.url
    up = requests.post(url + "/upload-url", headers=acct,
                       json={"filename": "gone.fil", "file_size": 3 * MB}).json()
    body = {"file_key": up["file_key"], "upload_id": up["upload_id"]}
    blobs = s3_server.services.blobs
    before = blobs._call("list_multipart_uploads", Prefix=up["file_key"])
    assert [u["UploadId"] for u in before["Uploads"]] == [up["upload_id"]]
    r = requests.post(url + "/abort-upload", headers=acct, json=body)
    assert r.status_code == 200 and r.json() == {"message": "Upload aborted"}
    listed = blobs._call("list_multipart_uploads", Prefix=up["file_key"])
    assert listed.get("Uploads", []) == []              # gone from S3 itself
    r = requests.post(url + "/abort-upload", headers=acct, json=body)
    assert r.status_code == 404


def acct_id(server):
    return server.services.store.get_user_by_name("s3-user").user_id


@pytest.fixture
def make_account_s3():
    from mitraseti_server.auth.keys import create_api_key

    def make(server):
        store = server.services.store
        user = store.get_user_by_name("s3-user") or store.create_user("s3-user", "researcher")
        return {"x-api-key": create_api_key(store, user.user_id).api_key}

    return make
