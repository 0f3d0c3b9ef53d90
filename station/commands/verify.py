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

from station.commands.grammar import ExitCode

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE = ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE
MARK = {"pass": "ok  ", "warn": "WARN", "fail": "FAIL"}


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="verify a station bundle (dir or zip), a session directory, or a published "
                       "MLPerf power directory (dir or zip)")
    p.add_argument("path", type=Path, help="bundle directory or zip, session directory, or an MLPerf result "
                   "directory or zip")
    p.add_argument("--json", action="store_true", help="print one JSON object (a results tree: one JSON line per "
                   "result, then a summary line)")
    p.add_argument("--round", metavar="vX.Y", help="judge a published MLPerf result by this round's rules "
                   "(default: the round its files show)")
    p.add_argument("--trusted-key", type=Path, metavar="PEM",
                   help="the station's public key (station-ed25519.pub) the signature must match")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from station.measurement.verdict import Verdict
    from station.verify import ManyResults, Unusable, verify_path

    key = None
    if args.trusted_key is not None:
        try:
            key = args.trusted_key.read_bytes()
        except OSError as exc:
            print(f"station: cannot read the trusted key {args.trusted_key}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    try:
        result = verify_path(args.path, trusted_key=key, round_name=args.round)
    except ManyResults:
        return _run_tree(args)
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
        print(verdict_line(args.path, result))
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


def verdict_line(path: Path | str, result: dict) -> str:
    """The first line ``station verify PATH`` prints for a result (``verify_path``'s dict)."""
    from station.measurement.verdict import Verdict

    return f"{path}: {result['kind']} result, {Verdict.from_dict(result).text}"


def _run_tree(args: argparse.Namespace) -> int:
    """A results tree: every power result below it, one line each (``--json``: one JSON object each), then a summary."""
    from station.measurement.verdict import Verdict
    from station.verify import verify_tree

    all_valid = True
    for item in verify_tree(args.path, args.round):
        if "summary" in item:
            if args.json:
                print(json.dumps(item, sort_keys=True))
            else:
                s = item["summary"]
                counts = ", ".join(f"{n} {v}" for v, n in s["by_verdict"].items())
                rounds = ", ".join(f"{r}: {n}" for r, n in s["by_round"].items())
                print(f"{s['results']} results: {counts} (rounds {rounds})")
            continue
        all_valid = all_valid and bool(item.get("valid"))
        if args.json:
            print(json.dumps(item, sort_keys=True, default=str), flush=True)
        elif "error" in item:
            print(f"{item['path']}: UNREADABLE: {item['error']}")
        else:
            rnd = (item.get("round") or {}).get("name", "?")
            print(f"{item['path']}: [{rnd}] {Verdict.from_dict(item).text}", flush=True)
    return EXIT_VALID if all_valid else EXIT_INVALID
