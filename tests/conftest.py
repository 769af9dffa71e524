"""Shared pytest fixtures for every room.

Real telescope files live outside the repository, in ``../shared/data/real`` beside it (see
its SOURCES.md); the fixtures below are the one place that knows where, and skip a test
when the folder or the file is absent. Synthetic headers for unit tests come from
:func:`mitraseti.synth.make_header`.
"""
import os
from collections.abc import Callable
from pathlib import Path

import pytest

REAL_DATA_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"


@pytest.fixture(scope="session", autouse=True)
def _own_cache_dir(tmp_path_factory):
    """MitraSETI's per-user cache (colormap tables) in a folder of this test session, for
    the tests and every process they start."""
    os.environ["MITRASETI_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder of real telescope files, resolved relative to the repository; skips the test
    when the folder is absent."""
    path = REAL_DATA_DIR.resolve()
    if not path.is_dir():
        pytest.skip(f"real data folder {path} not present")
    return path


@pytest.fixture(scope="session")
def real_file(real_data_dir: Path) -> Callable[[str], Path]:
    """``real_file(name)``: the path of one real file; skips the test when it is absent."""
    def find(name: str) -> Path:
        path = real_data_dir / name
        if not path.is_file():
            pytest.skip(f"real data file {path} not present")
        return path
    return find
