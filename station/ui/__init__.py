"""The station window (PySide6 + pyqtgraph). The only package of the station that imports Qt."""
