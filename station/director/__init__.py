"""The station as the director of the MLCommons power workflow (protocol v3, TCP 4950).

The SUT-side client of mlcommons/power-dev (``ptd_client_server/client.py``) connects, runs
its workload once under auto ranges (ranging) and once under fixed ranges (testing), and
downloads the director's files. Here the station plays the director and drives its own
analyzer instead of PTDaemon. ``protocol`` is the wire format, ``session`` one session's
measurements and files, ``server`` the TCP server; ``station serve`` runs it headless.
"""

from station.director.protocol import DEFAULT_PORT, FETCH_FILES, MAGIC_CLIENT, MAGIC_SERVER
from station.director.server import DirectorServer
from station.director.session import Analyzer, DirectorError, DirectorSession

__all__ = ["DEFAULT_PORT", "FETCH_FILES", "MAGIC_CLIENT", "MAGIC_SERVER", "Analyzer", "DirectorError",
           "DirectorServer", "DirectorSession"]
