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


def test_create_builds_a_transport_driver_on_the_resource_without_connecting():
    from instruments.transports.tcp import TcpTransport
    from instruments.yokogawa import WT300E

    drv = registry.create("hmc8015", "tcp://192.0.2.7:5025?timeout=3",
                          transport_options={"connect_timeout": 1.5}, query_timeout_s=4.0)
    assert isinstance(drv.transport, TcpTransport) and not drv.transport.is_open
    assert (drv.transport.host, drv.transport.port) == ("192.0.2.7", 5025)
    assert (drv.transport.timeout, drv.transport.connect_timeout) == (3.0, 1.5)
    assert drv.options["query_timeout_s"] == 4.0
    assert isinstance(registry.create("wt300e", "USB0::0x0B21::0x0025::C2PH13047V::INSTR"), WT300E)


def test_a_resource_no_driver_takes_gets_the_transports_reason():
    with pytest.raises(ConfigurationError, match="USB-TMC device node.*USB0::"):
        registry.create("wt300e", "/dev/usbtmc0")
    with pytest.raises(ConfigurationError, match="not a resource the station understands; accepted: tcp://"):
        registry.create("ptd", "bananas")
    with pytest.raises(ValueError, match="needs a host and a port"):  # a form it takes, written wrong
        registry.create("ptd", "tcp://192.0.2.7")


def test_a_driver_that_needs_a_resource_says_which_forms_it_takes():
    from instruments.ptd import PTDaemon

    assert registry.resource_help(PTDaemon) == "tcp://192.0.2.7:8888, 192.0.2.7:8888"
    assert registry.resource_help(registry.driver_class("sim")) == "no resource"
    assert "TCPIP::192.0.2.7::INSTR" in registry.resource_help(registry.driver_class("wt500"))
