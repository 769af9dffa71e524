"""Jupyter Server extension: the MitraSETI REST API and dashboard inside Jupyter.

Enabled by ``jupyter-config/jupyter_server_config.d/mitraseti_extension.json`` (installed
into ``etc/jupyter``). It mounts the REST handlers of ``mitraseti_server`` under
``<base_url>/mitraseti/api/...`` with Jupyter's own login (token or cookie) in place of API
keys, and serves a landing page at ``<base_url>/mitraseti`` that links to the dashboard.
"""
from __future__ import annotations

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "mitraseti_extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from mitraseti_extension.mount import mount

    mount(serverapp)


# jupyter_server < 2 names
load_jupyter_server_extension = _load_jupyter_server_extension
