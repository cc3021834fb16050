"""Fixtures of the FGS plugin tests: the real guider file (tests/data/fgs)."""
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "tests" / "data" / "fgs"


@pytest.fixture
def acq1():
    """The real FGS ACQ1 raw file copied into tests/data (see SOURCES.md)."""
    p = DATA / "add_wcs_default_acq1.fits"
    assert p.is_file(), f"{p} missing (copy it from shared/data, see tests/data/SOURCES.md)"
    return p
