"""``station verify PATH [--json] [--trusted-key PEM]``: exit 0 valid, 1 not valid, 2 unusable input.

The first line is the verdict (:mod:`station.measurement.verdict`): ``VALID``, ``VALID, NOT
COMPLIANT``, ``NOT VALID`` or ``INTEGRITY FAILED`` with the reasons, then the three answers, then
every check. ``--json`` prints one object with ``integrity``, ``valid``, ``compliant`` and
``headline`` (and, for a published MLPerf result, ``official`` beside ``station``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = 0, 1, 2
MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="verify a station bundle (dir or zip), a session directory, or a published "
                       "MLPerf power directory (dir or zip)")
    p.add_argument("path", type=Path, help="bundle directory or zip, session directory, or an MLPerf result "
                   "directory or zip")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--trusted-key", type=Path, metavar="PEM",
                   help="the station's public key (station-ed25519.pub) the signature must match")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station.measurement.verdict import Verdict
    from station.verify import Unusable, verify_path

    key = None
    if args.trusted_key is not None:
        try:
            key = args.trusted_key.read_bytes()
        except OSError as exc:
            print(f"station: cannot read the trusted key {args.trusted_key}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    try:
        result = verify_path(args.path, trusted_key=key)
    except Unusable as exc:
        if args.json:
            print(json.dumps({"integrity": False, "valid": False, "compliant": False, "headline": "UNUSABLE INPUT",
                              "kind": None, "checks": [], "metric": None, "error": str(exc)}))
        print(f"station: cannot verify: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.json:
        print(json.dumps(result, sort_keys=True, default=str))
    else:
        verdict = Verdict.from_dict(result)
        print(f"{args.path}: {result['kind']} result, {verdict.text}")
        print(f"  {verdict.answers}")
        if verdict.sides:
            print(f"  {verdict.sides}")
        for c in result["checks"]:
            print(f"  [{MARK.get(c['status'], c['status'])}] {c['name']}: {c['evidence']}")
        for c in result.get("review_checks") or []:
            if c.get("status") in ("fail", "warn"):
                print(f"  [{MARK[c['status']]}] review: {c['name']}: {c['evidence']}")
        m = result.get("metric")
        if m:
            value = m["value"]
            print(f"  metric: {value:.6g} {m['unit']}" if isinstance(value, float) else f"  metric: {value} {m['unit']}")
    return EXIT_VALID if result["valid"] else EXIT_INVALID
