"""Voila launcher for the dashboard; lives in :mod:`mitraseti.dashboard.launch` so that
``mitraseti serve`` can use it without importing the extension."""
from mitraseti.dashboard.launch import (  # noqa: F401  (re-exported)
    DEFAULT_PORT, dashboard_notebook, dashboard_path, dashboard_url, start_voila, stop_voila,
    voila_command, wait_until_up,
)
