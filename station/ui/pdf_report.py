"""The bundle report as PDF, written by Qt's own PDF writer from the same page as the HTML report.

QTextDocument understands a subset of HTML and no inline SVG, so each plot's SVG is rendered to
an image (QtSvg) and handed to the document as a resource; the rest of the page is the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QTextDocument
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication

from station.bundle.report import PLOT_H, PLOT_W, RunPlot, build_html, svg_plot

_app: QApplication | None = None


def _ensure_app() -> None:
    """Text layout needs a Qt application; headless exports make one and keep it. A widgets
    application, so that windows opened later in the same process (tests, the GUI) still work.

    No application yet means no window in this process (``station export``, ``station measure``
    over SSH): Qt's offscreen platform then lays the text out, since the default one aborts the
    process without a display or without the X libraries, and writing a PDF needs neither.
    """
    global _app
    if QApplication.instance() is None:
        if not os.environ.get("QT_QPA_PLATFORM"):
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        _app = QApplication([])


def _svg_to_image(svg: str, scale: float = 2.0) -> QImage:
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    img = QImage(int(PLOT_W * scale), int(PLOT_H * scale), QImage.Format.Format_ARGB32)
    img.fill(0xFFFFFFFF)
    painter = QPainter(img)
    renderer.render(painter)
    painter.end()
    return img


def write_pdf(manifest: dict, plots: list[RunPlot], path: Path) -> None:
    """Write the report for ``manifest`` with ``plots`` to ``path`` (A4 portrait)."""
    _ensure_app()
    doc = QTextDocument()
    tags = []
    for i, plot in enumerate(plots):
        name = f"plot{i}.png"
        doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(name), _svg_to_image(svg_plot(plot)))
        tags.append(f'<img src="{name}" width="{PLOT_W * 0.72:.0f}" height="{PLOT_H * 0.72:.0f}">')
    doc.setHtml(build_html(manifest, plots, svgs=tags))
    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(12, 12, 12, 12), QPageLayout.Unit.Millimeter)
    writer.setResolution(96)
    writer.setTitle(f"Station report {manifest.get('bundle_id')}")
    writer.setCreator("station")
    layout = writer.pageLayout()
    rect = layout.paintRectPixels(writer.resolution())
    doc.setPageSize(QSizeF(rect.width(), rect.height()))
    doc.print_(writer)
