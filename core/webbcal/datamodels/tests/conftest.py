from pathlib import Path

import pytest

# the repository's sibling folder "shared" holds public sample files (not copied here)
SHARED_DATA = Path(__file__).resolve().parents[4].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"sample data folder {SHARED_DATA} is absent")
    return SHARED_DATA


def sample(shared_data, relpath):
    path = shared_data / relpath
    if not path.exists():
        pytest.skip(f"sample file {path} is absent")
    return path
