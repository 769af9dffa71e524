"""The mounted extension reads the same validated ServiceConfig as ``mitraseti serve``:
the data dir's config.toml, then ``c.ServiceConfig`` from Jupyter's own configuration."""
from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    data = tmp_path / "mitraseti-data"
    data.mkdir()
    (data / "config.toml").write_text("[executor]\nmax_workers = 0\n"
                                      "[tiers.institution]\nprice = 'from config.toml'\n")
    for name in ("MITRASETI_DATA_DIR", "MITRASETI_API_URL", "MITRASETI_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return {"ServerApp": {"jpserver_extensions": {"mitraseti_extension": True}},
            "ServiceConfig": {"data_dir": str(data), "jupyter_tier": "institution"}}


@pytest.fixture
def mounted(jp_serverapp):
    yield jp_serverapp
    from mitraseti_server.app import stop_background

    settings = jp_serverapp.web_app.settings
    services = settings["mitraseti_services"]
    stop_background(services, settings.get("mitraseti_background", []))
    services.blobs.close()
    os.environ.pop("MITRASETI_API_URL", None)
    os.environ.pop("MITRASETI_API_TOKEN", None)


async def test_jupyter_config_and_config_toml_both_apply(mounted, jp_fetch):
    usage = json.loads((await jp_fetch("mitraseti", "api", "usage")).body)
    assert usage["tier"] == "institution"                                # c.ServiceConfig
    assert usage["tier_details"]["price"] == "from config.toml"         # config.toml
    config = mounted.web_app.settings["mitraseti_services"].config
    assert config.max_workers == 0
