"""Ed25519 signatures of bundle manifests, with one key pair kept per station.

The private key lives in ``<station home>/keys/station-ed25519.pem`` (PKCS#8, created on first
use with permissions 0600); the public key travels in every signed bundle as
``station-ed25519.pub`` (PEM, SubjectPublicKeyInfo). A verifier who has the station's public key
from a trusted channel passes it as the trusted key; without one, a signature only proves the
bundle was not changed after signing by whoever holds the key in the bundle.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from station.core.run_index import station_home

KEY_FILE = "station-ed25519.pem"
PUBLIC_FILE = "station-ed25519.pub"


class SigningError(Exception):
    """A key cannot be made, read or used."""


def key_path() -> Path:
    return station_home() / "keys" / KEY_FILE


def load_or_create_key(path: Path | None = None) -> Ed25519PrivateKey:
    path = path or key_path()
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise SigningError(f"the station key {path} cannot be read: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningError(f"the station key {path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    except OSError as exc:
        raise SigningError(f"cannot store a new station key at {path}: {exc.strerror or exc}") from exc
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the raw 32-byte public key, as hex: what an operator compares by eye."""
    pub = load_public(pem)
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public(pem: bytes, source: str = "public key") -> Ed25519PublicKey:
    try:
        pub = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{source} is not a PEM public key: {exc}") from exc
    if not isinstance(pub, Ed25519PublicKey):
        raise SigningError(f"{source} is not an Ed25519 public key")
    return pub


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(pem: bytes, data: bytes, signature: bytes, source: str = "public key") -> bool:
    pub = load_public(pem, source)
    try:
        pub.verify(signature, data)
    except InvalidSignature:
        return False
    return True
