"""MLPerf Power files and methodology: reading and writing the MLCommons formats, checks, metrics."""
