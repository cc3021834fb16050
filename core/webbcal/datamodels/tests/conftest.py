from pathlib import Path

import pytest

#: real sample files copied into the repository (tests/data, see its SOURCES.md)
SHARED_DATA = Path(__file__).resolve().parents[4] / "tests" / "data"


@pytest.fixture
def shared_data():
    return SHARED_DATA


def sample(shared_data, relpath):
    path = shared_data / relpath
    assert path.exists(), f"sample file {path} is missing from tests/data"
    return path
