"""Fixtures for the widget and dashboard tests."""
from __future__ import annotations

from pathlib import Path

import pytest

REAL_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    """/work/shared/data/real (relative to the repo); skips when it is absent."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} is missing")
    return REAL_DATA
