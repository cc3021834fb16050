import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: real sample files copied into the repository (see data/SOURCES.md)
SHARED_DATA = HERE / "data"


@pytest.fixture
def shared_data():
    return SHARED_DATA


@pytest.fixture
def toy_host(tmp_path, monkeypatch):
    """A plugin host holding only the third-party test plugin."""
    from toy_plugin import toy

    from webbcal.plugins import PluginHost, get_host, set_host

    toy.DEFAULT_DIR["flat"] = toy.write_flat(tmp_path / "toy_flat_default.fits")
    monkeypatch.delenv("WEBBCAL_REFS", raising=False)
    old = get_host()
    host = set_host(PluginHost(load_entry_points=False, extra=[("toy", toy)]))
    yield host
    set_host(old)


@pytest.fixture
def rate(toy_host, tmp_path):
    """A toy-instrument rate file in its own folder (``tmp_path / "in"``)."""
    from toy_plugin import toy

    model, _ = toy_host.hook.webbcal_simulate(mode=toy.MODE, params={})
    path = tmp_path / "in" / "toy_rate.fits"
    path.parent.mkdir()
    model.save(path)
    return path
