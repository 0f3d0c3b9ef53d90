"""The measurement service: one Qt-free place every front end drives.

``station measure``, the window's guide, ``station serve`` (the protocol-v3 director), the
kiosk and ``station --smoke`` all measure through this package; none keeps its own copy of
what lives here:

- :mod:`station.measurement.instruments`: instruments from a spec (one grammar, one
  validation, one function that opens them);
- :mod:`station.measurement.ranges`: the one range proposal (ranging maxima -> fixed ranges);
- :mod:`station.measurement.checks`: the :class:`Check` type and one module per rule, each with
  its live form (while a run records) and its final form (review, verify, report);
- :mod:`station.measurement.audit`: the session's hash-chained ``audit.jsonl``, on disk and
  fsynced while the session runs;
- :mod:`station.measurement.calibration`: calibration due dates by serial number;
- :mod:`station.measurement.export`: ``export_bundle(session, out, options)`` with the standard
  writers.
"""
