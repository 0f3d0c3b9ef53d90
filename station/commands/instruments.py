"""``station instruments [--json] [--no-discover] [--identify]``: drivers and the resources found."""

from __future__ import annotations

import argparse
import json

from station.commands.grammar import ExitCode


def add_parser(sub) -> None:
    p = sub.add_parser("instruments", help="list drivers and discoverable resources")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-discover", action="store_true", help="list drivers only, do not scan for resources")
    p.add_argument("--identify", action="store_true", help="ask each VISA resource for *IDN? and recognise it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    from instruments import registry

    drivers = []
    classes = registry.available()
    for name, cls in sorted(classes.items()):
        d = cls.description
        drivers.append({
            "name": name,
            "vendor": d.vendor,
            "models": list(d.models),
            "channels": d.channels,
            "transports": list(d.transports),
            "fastest_interval_s": d.fastest_interval_s,
            "resource_forms": list(cls.resource_forms),
            "summary": d.summary,
        })
    result: dict = {"drivers": drivers, "load_errors": registry.load_errors(), "resources": []}
    if not args.no_discover:
        result["discovery_errors"] = []
        result["resources"] = _discover(args.identify, result["discovery_errors"])
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return ExitCode.OK
    print("Drivers:")
    for d in drivers:
        print(f"  {d['name']:<10} {d['vendor']}: {', '.join(d['models'])}  "
              f"({'/'.join(d['transports'])}, fastest {d['fastest_interval_s']:g} s)")
        print(f"  {'':<10} resource: {registry.resource_help(classes[d['name']])}")
    for name, err in result["load_errors"].items():
        print(f"  {name:<10} NOT LOADED: {err}")
    if not args.no_discover:
        print("Resources:")
        if not result["resources"]:
            print("  none found (no VISA instruments or serial ports)")
        for r in result["resources"]:
            extra = ""
            if r.get("recognised"):
                rec = r["recognised"]
                extra = f"  -> {rec['driver']} {rec['model']} serial {rec.get('serial', '')} fw {rec.get('firmware', '')}"
            elif r.get("idn"):
                extra = f"  ({r['idn']})"
            print(f"  {r['resource']:<40} {r.get('kind', '')} {r.get('description', '')}{extra}")
        for err in result.get("discovery_errors", []):
            print(f"  ({err})")
    return ExitCode.OK


def _discover(identify: bool, problems: list[str]) -> list[dict]:
    try:
        from instruments import discovery
    except ImportError:
        return []
    found = discovery.discover(problems=problems)
    if identify:
        try:
            from instruments.scpi import recognise
        except ImportError:
            recognise = None
        for r in found:
            if r.get("kind") != "visa" or r["resource"].startswith("ASRL"):
                continue
            reply = discovery.identify_visa(r["resource"])
            if isinstance(reply, dict):
                r.update(reply)
            else:
                r["idn"] = reply
            idn = r.get("idn") if isinstance(r.get("idn"), str) else None
            if recognise and idn:
                match = recognise(idn)
                if match:
                    parts = [p.strip() for p in idn.split(",")]
                    r["recognised"] = {"driver": match[0], "model": match[1],
                                       "serial": parts[2] if len(parts) > 2 else "",
                                       "firmware": parts[3] if len(parts) > 3 else ""}
    return found
