"""The landing page at ``<base_url>/mitraseti``: links to the API and the dashboard."""
from __future__ import annotations

import html
import os
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web


class LandingHandler(JupyterHandler):
    """Jupyter-authenticated HTML page; redirects to Voila's render of the dashboard when
    Voila's server extension is enabled and ``?go=dashboard`` is given."""

    def initialize(self, api_url: str, api_path: str, notebook: Path | None, serverapp):
        self.api_url, self.api_path, self.notebook, self.app = (api_url, api_path, notebook,
                                                                serverapp)

    def _dashboard_links(self) -> tuple[str | None, str | None]:
        """(voila URL, JupyterLab URL) of the dashboard notebook when it is under the
        server's root dir."""
        if self.notebook is None:
            return None, None
        root = Path(os.path.expanduser(self.app.root_dir)).resolve()
        try:
            rel = self.notebook.resolve().relative_to(root).as_posix()
        except ValueError:
            return None, None
        voila = None
        if self.app.jpserver_extensions.get("voila"):
            voila = url_path_join(self.base_url, "voila", "render", rel)
        return voila, url_path_join(self.base_url, "lab", "tree", rel)

    @web.authenticated
    def get(self) -> None:
        voila, lab = self._dashboard_links()
        if self.get_argument("go", "") == "dashboard" and voila:
            self.redirect(voila)
            return
        esc = html.escape
        items = [f"<li>REST API: <a href='{esc(url_path_join(self.api_path, 'health'))}'>"
                 f"{esc(self.api_url)}</a> (your Jupyter login authenticates you)</li>",
                 f"<li><a href='{esc(url_path_join(self.api_path, 'openapi.json'))}'>"
                 f"OpenAPI description</a></li>"]
        if voila:
            items.append(f"<li><a id='dashboard' href='{esc(voila)}'>Dashboard</a> "
                         f"(Voila)</li>")
        elif lab:
            items.append(f"<li><a id='dashboard' href='{esc(lab)}'>Dashboard notebook</a> "
                         f"(enable Voila's server extension to open it as an app)</li>")
        else:
            items.append("<li>Dashboard: run <code>voila notebooks/dashboard.ipynb</code> "
                         f"with MITRASETI_API_URL={esc(self.api_url)}</li>")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish("<!doctype html><html><head><title>MitraSETI</title></head><body>"
                    "<h1>MitraSETI</h1><ul>" + "".join(items) + "</ul></body></html>")
