"""Shared test setup: Qt runs offscreen, the station home is a temporary directory."""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def station_home(tmp_path_factory, monkeypatch):
    """Each test gets its own station home, so run indexes never leak between tests."""
    home = tmp_path_factory.mktemp("station-home")
    monkeypatch.setenv("STATION_HOME", str(home))
    return home
