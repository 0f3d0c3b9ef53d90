"""Drivers by name, including a third-party driver installed through the entry-point group."""

import sys
import textwrap

import pytest

from instruments import registry
from instruments.base import ConfigurationError


def install_fake_distribution(site, module_body):
    """Lay out an installed distribution (module + dist-info with entry points) in ``site``."""
    (site / "acme_meter.py").write_text(textwrap.dedent(module_body))
    info = site / "acme_meter-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-meter\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[station.instruments]\nacme = acme_meter:AcmeMeter\n"
                                           "broken = acme_meter:DoesNotExist\n")


def test_a_third_party_driver_appears_by_its_entry_point_name(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, """
        from instruments.sim import SimulatedAnalyzer

        class AcmeMeter(SimulatedAnalyzer):
            '''A vendor's meter, packaged outside the station.'''
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    drivers = registry.available()
    assert drivers["acme"].__name__ == "AcmeMeter"
    assert "sim" in drivers  # built-ins still there
    # A broken plug-in is reported, and does not hide the others.
    assert "broken" in registry.load_errors()
    drv = registry.create("acme", profile="edge")
    assert drv.options["profile"] == "edge"
    sys.modules.pop("acme_meter", None)


def test_unknown_driver_names_the_known_ones():
    with pytest.raises(ConfigurationError, match="known drivers: .*sim"):
        registry.driver_class("nope")


def test_register_refuses_what_is_not_a_driver():
    with pytest.raises(TypeError):
        registry.register("thing", object)
