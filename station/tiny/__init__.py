"""MLPerf Tiny energy runs: scoring, the published result layouts, their checks, and the procedure.

- :mod:`station.tiny.scoring`: energy of a window between two GPIO edges, per inference, the median.
- :mod:`station.tiny.published`: the EnergyRunner and MLCommons-runner result directories, read.
- :mod:`station.tiny.checks`: the rules a Tiny energy result must meet (stricter than the reference
  runners, which only print warnings), as :class:`station.measurement.checks.Check` objects.
- :mod:`station.tiny.verify`: ``verify_tiny(path)``, the ``station verify`` form of a result.

Qt-free, like everything outside ``station/ui``.
"""
