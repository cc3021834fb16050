"""Fixtures of the NIRISS plugin tests: the real reference files (tests/data/niriss)."""
from pathlib import Path

import pytest

REF = Path(__file__).resolve().parents[3] / "tests" / "data" / "niriss" / "ref"


@pytest.fixture
def real_ref():
    """Path of a real NIRISS reference file copied into tests/data (see SOURCES.md)."""
    def path(name):
        p = REF / name
        assert p.is_file(), f"{p} missing (copy it from shared/data, see tests/data/SOURCES.md)"
        return p
    return path
