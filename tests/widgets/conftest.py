"""Fixtures for the widget and dashboard tests."""
from __future__ import annotations

from pathlib import Path

import pytest

@pytest.fixture
def real_data(real_data_dir: Path) -> Path:
    """The real-data folder (the root conftest's ``real_data_dir``)."""
    return real_data_dir
