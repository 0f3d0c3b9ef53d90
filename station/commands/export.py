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


def run(args: argparse.Namespace) -> ExitCode:
    from station.bundle.signing import SigningError
    from station.measurement.export import ExportError, ExportOptions, export_bundle

    session = args.session
    out = args.out or session.with_name(session.name.rstrip("/") + "-bundle")
    try:
        res = export_bundle(session, out, ExportOptions(
            pdf=not args.no_pdf, sign=args.sign, make_zip=not args.no_zip,
            on_warning=None if args.json else (lambda text: print(f"station: {text}", file=sys.stderr))))
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
        from station.measurement.verdict import bundle_verdict

        print(f"verdict     {bundle_verdict([], res.manifest).text}")  # the words of station verify
        print(f"check it    station verify {res.zip_path or res.directory}")
    return ExitCode.OK
