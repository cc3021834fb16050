"""Fixtures of the NIRCam plugin tests: the real reference files (tests/data/nircam)."""
from pathlib import Path

import pytest

REF = Path(__file__).resolve().parents[3] / "tests" / "data" / "nircam" / "ref"


@pytest.fixture
def real_ref():
    """Path of a real NIRCam reference file copied into tests/data (see SOURCES.md)."""
    def path(name):
        p = REF / name
        assert p.is_file(), f"{p} missing (copy it from shared/data, see tests/data/SOURCES.md)"
        return p
    return path
