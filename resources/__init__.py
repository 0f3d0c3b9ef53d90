"""Data files shipped with the station (workload profiles, icons, styles)."""

from pathlib import Path

RESOURCE_DIR = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource file; works in a checkout, a wheel and a frozen build."""
    return RESOURCE_DIR.joinpath(*parts)
