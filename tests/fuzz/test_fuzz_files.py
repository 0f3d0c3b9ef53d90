"""Our own files read back after damage: journals, audit logs and bundle manifests.

Whatever bytes end up in them (torn writes, bit rot, hand edits), reading gives either the
data or a clear error naming the file; verify never crashes and never calls a damaged file good.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from station.bundle import audit
from station.bundle.verify import verify_bundle
from station.core.journal import InstrumentEntry, JournalError, JournalReader, JournalWriter
from station.core.recovery import recover
from station.core.samples import SAMPLE_DTYPE
from tests.helpers.fuzz_counts import tried
from tests.helpers.sample_blocks import make_block

T0 = 1_764_360_000.0


def _journal(d: Path) -> None:
    w = JournalWriter(d, [InstrumentEntry("a", "sim", SAMPLE_DTYPE, 0.1, {})])
    w.write("a", make_block(T0, 50, 0.1, np.full(50, 10.0)))
    w.event("started", t=T0)
    w.close({"state": "complete"})


@given(tail=st.binary(max_size=200), events_tail=st.binary(max_size=200))
@example(tail=b"", events_tail=b"0\n")  # garbage that parses as JSON but is no event (found by the fuzzer)
def test_journal_with_garbage_appended_recovers_every_whole_record(tmp_path_factory, tail, events_tail):
    tried("journal.samples+events (recover)")
    d = tmp_path_factory.mktemp("j")
    _journal(d)
    (d / "summary.json").unlink()
    with open(d / "samples-a.bin", "ab") as f:
        f.write(tail)
    with open(d / "events.jsonl", "ab") as f:
        f.write(events_tail)
    summary = recover(d)
    whole = 50 + len(tail) // SAMPLE_DTYPE.itemsize
    assert summary["samples"] == whole
    reader = JournalReader(d)
    assert len(reader.samples("a")) == whole
    assert reader.events()[0]["kind"] == "started"


@given(st.binary(max_size=300))
def test_damaged_journal_header_is_a_clear_error(tmp_path_factory, header):
    tried("journal.header")
    d = tmp_path_factory.mktemp("h")
    _journal(d)
    (d / "header.json").write_bytes(header)
    try:
        JournalReader(d)
    except JournalError as exc:
        assert "header" in str(exc) or "journal" in str(exc)


@given(st.binary(max_size=400))
def test_audit_verify_never_crashes_and_rejects_garbage(tmp_path_factory, data):
    tried("audit.jsonl")
    p = tmp_path_factory.mktemp("a") / "audit.jsonl"
    p.write_bytes(data)
    n, problems = audit.verify_chain(p)
    if data.strip(b"\n"):
        assert problems, "random bytes are never a valid chain"
        assert all(x.startswith("audit.jsonl") for x in problems)


BUNDLE_CACHE: dict[str, Path] = {}


def _bundle(tmp_path_factory) -> Path:
    if "b" not in BUNDLE_CACHE:
        from station.bundle.export import export_session
        from tests.helpers.sessions import make_session

        root = tmp_path_factory.mktemp("bundle-src")
        BUNDLE_CACHE["b"] = export_session(make_session(root), root / "bundle", make_zip=False).directory
    return BUNDLE_CACHE["b"]


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@given(key=st.sampled_from(["format", "format_version", "files", "audit", "metric", "samples", "bundle_id"]),
       value=JSONISH)
def test_edited_manifest_never_crashes_verify_and_never_passes(tmp_path_factory, key, value):
    tried("bundle manifest.json")
    src = _bundle(tmp_path_factory)
    b = tmp_path_factory.mktemp("edit") / "b"
    shutil.copytree(src, b)
    m = json.loads((b / "manifest.json").read_text())
    if m.get(key) == value:
        return
    m[key] = value
    (b / "manifest.json").write_text(json.dumps(m))
    result = verify_bundle(b)
    assert result["valid"] is False
    assert any(c["status"] == "fail" and "manifest" in (c["name"] + c["evidence"]) for c in result["checks"])
