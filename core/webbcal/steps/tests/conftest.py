"""Fixtures for the step tests: the third-party toy instrument of the repository's tests/."""
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[4] / "tests"


@pytest.fixture
def toy_host(tmp_path, monkeypatch):
    """A plugin host holding only the toy plugin (tests/toy_plugin), as tests/conftest.py builds it."""
    monkeypatch.syspath_prepend(str(TESTS))
    from toy_plugin import toy

    from webbcal.plugins import PluginHost, get_host, set_host

    toy.DEFAULT_DIR["flat"] = toy.write_flat(tmp_path / "toy_flat_default.fits")
    monkeypatch.delenv("WEBBCAL_REFS", raising=False)
    old = get_host()
    host = set_host(PluginHost(load_entry_points=False, extra=[("toy", toy)]))
    yield host
    set_host(old)
