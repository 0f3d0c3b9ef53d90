"""Verify a station bundle directory: manifest, every file's hash, signature, audit chain.

Each verdict is a :class:`station.measurement.checks.Check` (its JSON form in the result); the
bundle is valid when no check fails. A changed byte anywhere is caught: in a listed file by its
hash, in the manifest by ``manifest.json.sha256`` (and the signature), in the digest file by the digest itself, in the
public key or signature by the signature check; a file added after export is named as unlisted.
Re-computation of the rule checks from the raw samples is registered by the procedure layer
through :data:`RECOMPUTE` (kept out of here so this module needs nothing but the files).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from station.bundle import audit, signing
from station.bundle.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_DIGEST,
    PUBLIC_KEY,
    SELF_FILES,
    SIGNATURE,
    sha256_file,
    walk_files,
)
from station.measurement.checks import Check

AUDIT_FILE = "audit.jsonl"

# Functions (bundle_dir, manifest) -> list of checks that recompute verdicts and metrics from the
# raw samples; registered by the modules that know how (see station.bundle.export).
RECOMPUTE: list[Callable[[Path, dict], list[Check]]] = []
SOURCE = "station verify: bundle integrity (station.bundle.verify)"


def _check(name: str, status: str, evidence: str) -> Check:
    """A verdict of this module (its source names it)."""
    return Check(name, status, evidence, SOURCE)


def is_bundle(path: Path) -> bool:
    return (path / MANIFEST).is_file()


def verify_bundle(root: Path, trusted_key: bytes | None = None) -> dict:
    """Verify the bundle in directory ``root``. ``trusted_key``: PEM of the station's public key."""
    root = Path(root)
    checks: list[Check] = []
    raw = (root / MANIFEST).read_bytes()
    checks.append(_digest_check(root, raw))
    try:
        manifest = json.loads(raw.decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("the top level is not an object")
    except (UnicodeDecodeError, ValueError) as exc:
        checks.append(_check("manifest", "fail", f"{MANIFEST} is not readable JSON: {exc}"))
        return _result(checks, None)
    if manifest.get("format") != FORMAT:
        checks.append(_check("manifest", "fail", f"{MANIFEST} is not a station bundle manifest "
                                                 f"(format {manifest.get('format')!r})"))
        return _result(checks, None)
    if not isinstance(manifest.get("format_version"), int) or manifest["format_version"] > FORMAT_VERSION:
        checks.append(_check("manifest", "fail", f"{MANIFEST} has format version "
                                                 f"{manifest.get('format_version')!r}; this station reads "
                                                 f"up to {FORMAT_VERSION}"))
        return _result(checks, None)
    checks.append(_check("manifest", "pass", f"bundle {manifest.get('bundle_id')} made "
                                             f"{manifest.get('created_utc')} by station "
                                             f"{(manifest.get('station') or {}).get('version')}"))
    checks.append(_signature_check(root, raw, trusted_key))
    checks.extend(_file_checks(root, manifest.get("files")))
    checks.append(_audit_check(root, manifest))
    import station.bundle.recompute  # noqa: F401  (registers the recomputation from raw samples)

    for fn in RECOMPUTE:
        try:
            checks.extend(fn(root, manifest))
        except Exception as exc:  # a broken recomputation is a failed check, not a crash
            checks.append(_check("recomputation", "fail", f"could not recompute from the samples: {exc}"))
    return _result(checks, manifest)


def _result(checks: list[Check], manifest: dict | None) -> dict:
    metric = None
    if manifest is not None:
        m = manifest.get("metric")
        if isinstance(m, dict) and "value" in m and "unit" in m:
            metric = {"value": m["value"], "unit": m["unit"]}
    return {
        "valid": not any(c.failed for c in checks),
        "kind": "station",
        "checks": [c.to_dict() for c in checks],
        "metric": metric,
        "bundle_id": manifest.get("bundle_id") if manifest else None,
    }


def _digest_check(root: Path, raw: bytes) -> Check:
    path = root / MANIFEST_DIGEST
    if not path.is_file():
        return _check("manifest digest", "fail", f"{MANIFEST_DIGEST} is missing")
    text = path.read_bytes().decode("ascii", errors="replace").split()
    want = text[0] if text else ""
    got = hashlib.sha256(raw).hexdigest()
    if want != got:
        return _check("manifest digest", "fail",
                      f"{MANIFEST} changed after export (SHA-256 {got[:16]}…, "
                      f"{MANIFEST_DIGEST} says {want[:16]}…); or {MANIFEST_DIGEST} was changed")
    return _check("manifest digest", "pass", f"{MANIFEST} SHA-256 {got}")


def _signature_check(root: Path, raw: bytes, trusted_key: bytes | None) -> Check:
    sig_path, pub_path = root / SIGNATURE, root / PUBLIC_KEY
    if not sig_path.exists():
        if trusted_key is not None:
            return _check("signature", "fail", "a trusted key was given but the bundle is not signed")
        if pub_path.exists():
            return _check("signature", "fail", f"{PUBLIC_KEY} is present but {SIGNATURE} is missing "
                                               "(the signature was removed)")
        return _check("signature", "warn", "the bundle is not signed: its integrity rests on hashes only")
    if not pub_path.exists():
        return _check("signature", "fail", f"{SIGNATURE} is present but {PUBLIC_KEY} is missing")
    pem = pub_path.read_bytes()
    try:
        ok = signing.verify(pem, raw, sig_path.read_bytes(), source=PUBLIC_KEY)
        fp = signing.fingerprint(pem)
    except signing.SigningError as exc:
        return _check("signature", "fail", str(exc))
    if not ok:
        return _check("signature", "fail", f"{SIGNATURE} does not match {MANIFEST} under {PUBLIC_KEY} "
                                           "(the manifest, the signature or the key was changed)")
    if trusted_key is not None:
        try:
            trusted_fp = signing.fingerprint(trusted_key)
        except signing.SigningError as exc:
            return _check("signature", "fail", f"the trusted key: {exc}")
        if trusted_fp != fp:
            return _check("signature", "fail", f"signed by key {fp[:16]}…, not by the trusted key "
                                               f"{trusted_fp[:16]}…")
        return _check("signature", "pass", f"Ed25519 signature by the trusted key {fp[:16]}…")
    return _check("signature", "warn", f"Ed25519 signature valid under the key in the bundle ({fp[:16]}…), "
                                       "but no trusted key was given to compare it with")


def _file_checks(root: Path, files) -> list[Check]:
    if not isinstance(files, dict) or not files:
        return [_check("files", "fail", f"{MANIFEST} lists no files")]
    out: list[Check] = []
    present = set(walk_files(root)) - set(SELF_FILES)
    ok = 0
    total_bytes = 0
    for rel, info in sorted(files.items()):
        p = root / rel
        if not isinstance(info, dict) or "sha256" not in info:
            out.append(_check(f"file {rel}", "fail", f"{MANIFEST} entry for {rel} has no hash"))
            continue
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            out.append(_check(f"file {rel}", "fail", f"{MANIFEST} names a path outside the bundle: {rel}"))
            continue
        if not p.is_file() or p.is_symlink():
            out.append(_check(f"file {rel}", "fail", f"{rel} is missing"))
            continue
        got = sha256_file(p)
        if got != info["sha256"]:
            out.append(_check(f"file {rel}", "fail", f"{rel} changed after export "
                                                     f"(SHA-256 {got[:16]}…, manifest {str(info['sha256'])[:16]}…)"))
            continue
        ok += 1
        total_bytes += p.stat().st_size
    for rel in sorted(present - set(files)):
        out.append(_check(f"file {rel}", "fail", f"{rel} is not listed in {MANIFEST} (added after export)"))
    if ok == len(files) and not out:
        out.insert(0, _check("files", "pass", f"all {ok} files match their SHA-256 ({total_bytes} bytes)"))
    else:
        out.insert(0, _check("files", "fail", f"{len(out)} of {len(files)} files do not match the manifest"))
    return out


def _audit_check(root: Path, manifest: dict) -> Check:
    path = root / AUDIT_FILE
    check = audit.audit_check(path, torn_tail_fails=True)  # export never writes a torn tail
    if check.status != "pass":
        return check
    info = manifest.get("audit")
    head = info.get("head") if isinstance(info, dict) else None
    if not isinstance(info, dict) or not isinstance(head, str):
        return _check("audit chain", "fail", f"{MANIFEST} does not record the head of {AUDIT_FILE}")
    rep = audit.read_chain(path)
    if head != rep.head:
        return _check("audit chain", "fail", f"{AUDIT_FILE} ends at {rep.head[:16]}…, the manifest recorded "
                                             f"{str(head)[:16]}… (entries were cut off or added)")
    evidence = f"{rep.entries} entries, each chained to the one before"
    if info.get("chained"):
        evidence += f"; chained {info['chained']}"
    if info.get("torn_tail"):
        evidence += f"; {info['torn_tail']}"
    return _check("audit chain", "pass", evidence)
