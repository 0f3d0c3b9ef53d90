"""The Qt-free measurement engine: samples, acquisition, journal, live store, run monitor."""
