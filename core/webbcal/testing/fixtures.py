"""pytest fixtures for plugin tests, loaded by pytest wherever webbcal is installed (entry
point ``pytest11``): ``webbcal_host`` and its ``webbcal_plugins`` marker."""
from __future__ import annotations

import pytest

from .hosts import plugin_host


@pytest.fixture
def webbcal_host(request, monkeypatch):
    """A host with the plugins named by the test's ``webbcal_plugins`` marker (modules or
    objects), the installed entry points not loaded; embedded default references only
    (``WEBBCAL_REFS`` unset)::

        @pytest.mark.webbcal_plugins(my_plugin)
        def test_x(webbcal_host): ...
    """
    marker = request.node.get_closest_marker("webbcal_plugins")
    plugins = marker.args if marker is not None else ()
    monkeypatch.delenv("WEBBCAL_REFS", raising=False)
    with plugin_host(*plugins) as host:
        yield host


def pytest_configure(config):
    """Declare the ``webbcal_plugins`` marker the ``webbcal_host`` fixture reads."""
    config.addinivalue_line("markers", "webbcal_plugins(*plugins): the plugins of the webbcal_host fixture")
