"""Shared pytest fixtures for every room."""
from pathlib import Path

import pytest

REAL_DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder of real telescope files (/work/shared/data/real, see its SOURCES.md),
    resolved relative to the repository; skips the test when the folder is absent."""
    path = REAL_DATA_DIR.resolve()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not present")
    return path
