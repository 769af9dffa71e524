"""The MitraSETI web dashboard (ipywidgets, served by Voila from notebooks/dashboard.ipynb).

``Dashboard(api_url=None)`` is the whole UI as one widget; ``DashboardSession`` is its API
conversation (no widgets), testable on its own.
"""
from mitraseti.dashboard.session import (DEFAULT_API_URL, FORMATS, DashboardSession,
                                         api_url_from_env)

__all__ = ["Dashboard", "DashboardSession", "JobPage", "api_url_from_env", "DEFAULT_API_URL",
           "FORMATS"]


def __getattr__(name):  # widgets are imported only when the UI is built
    if name == "Dashboard":
        from mitraseti.dashboard.app import Dashboard
        return Dashboard
    if name == "JobPage":
        from mitraseti.dashboard.jobpage import JobPage
        return JobPage
    raise AttributeError(name)
