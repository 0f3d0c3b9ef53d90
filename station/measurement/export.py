"""``export_bundle(session, out, options)``: the one exporter every front end calls.

The standard writers are chosen here, once: the MLPerf Power layout (``power/``, ``ranging/``,
``run_N/``, so MLCommons tooling reads the bundle), the HTML report (always) and the PDF report
(whenever the PDF writer can run on this machine), with an optional Ed25519 signature and a
zip. ``station export``, the window's guide and ``station --smoke`` differ only in the options
they pass, never in which writers run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from station.bundle.export import ExportError, ExportResult, export_session

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_bundle", "pdf_writer", "mlperf_writer"]


@dataclass
class ExportOptions:
    pdf: bool = True  # report.pdf besides report.html, when the PDF writer can run here
    mlperf_layout: bool = True  # power/, ranging/, run_N/ as the MLCommons tools read them
    sign: bool = False  # Ed25519 signature of the manifest with this station's key
    key_path: Path | None = None
    make_zip: bool = True
    on_warning: Callable[[str], None] | None = None  # told when a writer cannot run here
    notes: list[str] = field(default_factory=list)  # what was left out, and why (filled by export_bundle)


def pdf_writer(on_warning: Callable[[str], None] | None = None):
    """The PDF report writer, or None (with a warning) when it cannot run on this machine."""
    try:
        from station.ui.pdf_report import write_pdf
    except ImportError as exc:  # pragma: no cover - depends on the platform's Qt
        if on_warning is not None:
            on_warning(f"no PDF report (Qt unavailable: {exc}); the HTML report is written")
        return None
    return write_pdf


def mlperf_writer():
    from station.bundle.mlperf_layout import write_layout

    return write_layout


def export_bundle(session: str | os.PathLike, out: str | os.PathLike,
                  options: ExportOptions | None = None) -> ExportResult:
    """Export the session directory ``session`` to the new bundle directory ``out`` (and its zip)."""
    options = options or ExportOptions()

    def warn(text: str) -> None:
        options.notes.append(text)
        if options.on_warning is not None:
            options.on_warning(text)

    return export_session(
        session, out, sign=options.sign, key_path=options.key_path, make_zip=options.make_zip,
        pdf_writer=pdf_writer(warn) if options.pdf else None,
        mlperf_writer=mlperf_writer() if options.mlperf_layout else None,
    )
