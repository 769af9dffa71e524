"""The REST API mounted inside Jupyter Server, authenticated by Jupyter's token."""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

import mitraseti

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mitraseti_data_dir(tmp_path, monkeypatch):
    data = tmp_path / "mitraseti-data"
    monkeypatch.setenv("MITRASETI_DATA_DIR", str(data))
    monkeypatch.delenv("MITRASETI_API_URL", raising=False)
    monkeypatch.delenv("MITRASETI_API_TOKEN", raising=False)
    return data


@pytest.fixture
def jp_server_config(mitraseti_data_dir):
    return {"ServerApp": {"jpserver_extensions": {"mitraseti_extension": True}}}


@pytest.fixture
def mounted(jp_serverapp):
    """The running server; stops the extension's background work afterwards."""
    yield jp_serverapp
    from mitraseti_server.app import stop_background

    settings = jp_serverapp.web_app.settings
    services = settings.get("mitraseti_services")
    if services is not None:
        stop_background(services, settings.get("mitraseti_background", []))
        services.blobs.close()
    os.environ.pop("MITRASETI_API_URL", None)
    os.environ.pop("MITRASETI_API_TOKEN", None)


async def test_health_needs_no_login(mounted, jp_fetch):
    resp = await jp_fetch("mitraseti", "api", "health", headers={"Authorization": ""})
    assert resp.code == 200
    assert json.loads(resp.body) == {"status": "healthy", "version": mitraseti.__version__}


async def test_jupyter_token_authenticates_and_maps_to_a_local_user(mounted, jp_fetch,
                                                                    mitraseti_data_dir):
    resp = await jp_fetch("mitraseti", "api", "usage")          # jp_fetch sends the token
    usage = json.loads(resp.body)
    assert resp.code == 200 and usage["tier"] == "researcher"
    again = json.loads((await jp_fetch("mitraseti", "api", "usage")).body)
    assert again["user_id"] == usage["user_id"]                  # same local user each time
    from mitraseti_server.storage.database import Store
    store = Store(mitraseti_data_dir / "mitraseti.db")
    names = [u.name for u in store.list_users()]
    store.close()
    assert "jupyter-owner" in names             # single-user Jupyter: the owner


async def test_dashboard_kernels_get_the_api_url_and_a_bearer_token(mounted, jp_fetch,
                                                                    jp_base_url):
    """Kernels started by this server (the dashboard under Voila) inherit the API's URL and
    Jupyter's token, which the API accepts as a Bearer token (as the dashboard sends it)."""
    assert os.environ["MITRASETI_API_URL"].endswith(jp_base_url + "mitraseti/api")
    token = os.environ["MITRASETI_API_TOKEN"]
    assert token == mounted.identity_provider.token
    resp = await jp_fetch("mitraseti", "api", "usage",
                          headers={"Authorization": f"Bearer {token}"})
    assert resp.code == 200


async def test_without_jupyter_login_is_403_json(mounted, jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mitraseti", "api", "jobs", headers={"Authorization": ""})
    assert info.value.code == 403
    assert json.loads(info.value.response.body)["error"] == "Jupyter login required"


async def test_api_keys_do_not_replace_the_jupyter_login(mounted, jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mitraseti", "api", "jobs",
                       headers={"Authorization": "", "x-api-key": "sk_live_0000abcd_" + "x" * 43})
    assert info.value.code == 403


async def test_upload_through_the_mounted_blob_route(mounted, jp_fetch, jp_base_url):
    resp = await jp_fetch("mitraseti", "api", "upload-url", method="POST",
                          body=json.dumps({"filename": "tiny.fil", "file_size": 5}))
    plan = json.loads(resp.body)
    url = urlsplit(plan["upload_url"])
    assert url.path.startswith(jp_base_url + "mitraseti/api/blobs/")
    assert url.port == mounted.port
    # the signed URL works by itself (no Jupyter login), as S3's would
    put = await AsyncHTTPClient().fetch(
        f"http://127.0.0.1:{mounted.port}{url.path}?{url.query}", method="PUT",
        body=b"12345", headers={"Content-Type": "application/octet-stream"})
    assert put.code in (200, 201, 204)


async def test_landing_page_links_the_api_and_dashboard(mounted, jp_fetch):
    resp = await jp_fetch("mitraseti")
    page = resp.body.decode()
    assert resp.code == 200 and "MitraSETI" in page
    assert "mitraseti/api/health" in page and "openapi.json" in page
    assert "dashboard" in page.lower()


def test_the_config_file_enables_the_extension_point():
    """The shipped file names the module; test_installed.py checks what an install does."""
    import mitraseti_extension

    conf = json.loads((ROOT / "jupyter-config" / "jupyter_server_config.d"
                       / "mitraseti_extension.json").read_text())
    assert conf == {"ServerApp": {"jpserver_extensions": {"mitraseti_extension": True}}}
    assert mitraseti_extension._jupyter_server_extension_points() == [
        {"module": "mitraseti_extension"}]
