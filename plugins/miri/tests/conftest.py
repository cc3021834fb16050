import warnings
from pathlib import Path

import pytest

#: real sample files copied into the repository (tests/data, see its SOURCES.md)
SHARED_DATA = Path(__file__).resolve().parents[3] / "tests" / "data"


@pytest.fixture
def shared_miri():
    path = SHARED_DATA / "miri"
    return path


@pytest.fixture
def host(monkeypatch):
    """A plugin host with only the MIRI plugin, reading only embedded defaults."""
    import webbcal_miri.plugin as miri_plugin
    from webbcal.plugins import PluginHost, get_host, set_host

    monkeypatch.delenv("WEBBCAL_REFS", raising=False)
    old = get_host()
    h = set_host(PluginHost(load_entry_points=False, extra=[("miri", miri_plugin)]))
    yield h
    set_host(old)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        yield
