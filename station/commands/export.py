"""``station export SESSION [--out DIR]``: an audited bundle (directory and zip) of a session."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from station.commands.grammar import ExitCode


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a measurement session as an audited bundle (dir + zip)")
    p.add_argument("session", type=Path, help="session directory (written by 'station measure' or the guide)")
    p.add_argument("--out", type=Path, help="bundle directory to create (default: <session>-bundle)")
    p.add_argument("--sign", action="store_true", help="sign the manifest with this station's Ed25519 key")
    p.add_argument("--no-zip", action="store_true", help="do not write the single-file zip")
    p.add_argument("--no-pdf", action="store_true", help="do not write report.pdf (HTML only)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run)


def pdf_writer_or_none(quiet: bool = False):
    """Qt's PDF writer when Qt is importable (it is a dependency; a broken install skips the PDF)."""
    try:
        from station.ui.pdf_report import write_pdf
    except ImportError as exc:  # pragma: no cover - depends on the platform's Qt
        if not quiet:
            print(f"station: no PDF report (Qt unavailable: {exc}); the HTML report is written",
                  file=sys.stderr)
        return None
    return write_pdf


def mlperf_writer_or_none():
    try:
        from station.bundle.mlperf_layout import write_layout
    except ImportError:
        return None
    return write_layout


def run(args: argparse.Namespace) -> ExitCode:
    from station.bundle.export import ExportError, export_session
    from station.bundle.signing import SigningError

    session = args.session
    out = args.out or session.with_name(session.name.rstrip("/") + "-bundle")
    try:
        res = export_session(
            session, out, sign=args.sign, make_zip=not args.no_zip,
            pdf_writer=None if args.no_pdf else pdf_writer_or_none(args.json),
            mlperf_writer=mlperf_writer_or_none(),
        )
    except (ExportError, SigningError) as exc:
        print(f"station: export failed: {exc}", file=sys.stderr)
        return ExitCode.USAGE if not session.is_dir() else ExitCode.FAILED
    except OSError as exc:
        print(f"station: export failed: {exc.filename or ''} {exc.strerror or exc}", file=sys.stderr)
        return ExitCode.FAILED
    files = len(res.manifest["files"])
    if args.json:
        print(json.dumps({"bundle": str(res.directory), "zip": str(res.zip_path) if res.zip_path else None,
                          "bundle_id": res.bundle_id, "files": files, "valid": res.manifest.get("valid"),
                          "signed": args.sign}))
    else:
        print(f"bundle      {res.directory}  ({files} files, id {res.bundle_id})")
        if res.zip_path:
            print(f"zip         {res.zip_path}")
        print(f"verdict     {'valid' if res.manifest.get('valid') else 'NOT valid'} per the session's review")
        print(f"check it    station verify {res.zip_path or res.directory}")
    return ExitCode.OK
