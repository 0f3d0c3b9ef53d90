"""Byte and line transports (VISA, serial, TCP), kept apart from the drivers that use them."""

from instruments.transports.base import Transport, TransportError, TransportTimeout

__all__ = ["Transport", "TransportError", "TransportTimeout", "open_transport"]


def open_transport(resource: str, **options):
    """Build (not open) the transport a resource string names.

    ``tcp://host:port`` -> TCP socket; ``serial:///dev/ttyUSB0`` or a bare device path /
    ``COMn`` -> serial; anything else (``TCPIP::...::INSTR``, ``USB0::...``, ``GPIB0::...``,
    ``ASRL...``) -> VISA.
    """
    from instruments.transports.factory import transport_for

    return transport_for(resource, **options)
