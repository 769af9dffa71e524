"""pytest-jupyter's server fixtures (jp_serverapp, jp_fetch, ...) for these tests only."""
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403
