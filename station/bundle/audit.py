"""The audit log's chained format, for the bundle code: it lives in :mod:`station.measurement.audit`.

A session keeps its ``audit.jsonl`` while it runs; export copies and verifies it, and
``station verify`` checks it in bundles and in session directories alike.
"""

from station.measurement.audit import (
    AUDIT_FILE,
    GENESIS,
    AuditError,
    AuditLog,
    ChainReport,
    audit_check,
    canonical,
    chain,
    entry_hash,
    read_chain,
    read_entries,
    verify_chain,
    write_chain,
)

__all__ = ["AUDIT_FILE", "GENESIS", "AuditError", "AuditLog", "ChainReport", "audit_check", "canonical",
           "chain", "entry_hash", "read_chain", "read_entries", "verify_chain", "write_chain"]
