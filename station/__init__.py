"""station: a measurement station for the energy efficiency of machine-learning systems."""

__version__ = "0.1.0"
