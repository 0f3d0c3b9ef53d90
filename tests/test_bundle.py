"""Bundles: export of a session, the audit chain, signatures, and verify catching any change."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from station.bundle import audit, signing
from station.bundle.export import ExportError, export_session
from station.bundle.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE
from station.bundle.verify import verify_bundle
from station.core.journal import JournalReader
from station.core.samples import Flag
from tests.helpers.sample_blocks import make_block
from tests.helpers.sessions import T0, make_session, write_run
from tests.helpers.waiting import wait_until


@pytest.fixture
def session(tmp_path):
    return make_session(tmp_path)


def test_export_writes_every_part_and_verifies(session, tmp_path):
    res = export_session(session, tmp_path / "bundle", sign=True)
    b = res.directory
    for rel in ("manifest.json", "manifest.json.sha256", SIGNATURE, PUBLIC_KEY, "audit.jsonl",
                "report.html", "session/session.json", "session/review.json", "runs/testing_1/header.json",
                "runs/testing_1/workload-output.txt", "samples/ranging/sim-1.npy", "samples/testing_1/sim-1.npy"):
        assert (b / rel).is_file(), rel
    # a scientist loads the samples in one line and gets what was recorded
    samples = np.load(b / "samples/testing_1/sim-1.npy")
    assert len(samples) == 600 and samples.dtype.names[:2] == ("t", "w")
    assert samples["t"][0] == pytest.approx(T0 + 60)
    journal = JournalReader(session / "testing_1").samples("sim-1")
    assert samples.dtype == journal.dtype and samples.tobytes() == journal.tobytes()  # every byte of every record
    m = json.loads((b / MANIFEST).read_text())
    assert m["bundle_id"] == res.bundle_id and m["session"]["operator"] == "Ada"
    assert m["instruments"][0]["identity"]["serial"] == "SIM-0001"
    assert m["instruments"][0]["calibration_due"] == "2027-06-30"
    assert "samples/testing_1/sim-1.npy" in m["files"] and MANIFEST not in m["files"]
    assert m["libraries"]["numpy"] == np.__version__
    html = (b / "report.html").read_text()
    assert "VALID" in html and "<svg" in html and "uncertainty" in html
    result = verify_bundle(b)
    assert result["valid"], result["checks"]
    assert result["metric"] == {"value": 98.0, "unit": "W"}
    assert any(c["name"] == "signature" and c["status"] == "warn" for c in result["checks"])
    trusted = signing.public_pem(signing.load_or_create_key())
    assert {c["name"]: c["status"] for c in verify_bundle(b, trusted_key=trusted)["checks"]}["signature"] == "pass"
    # the zip holds the same files under one top folder
    with zipfile.ZipFile(res.zip_path) as zf:
        names = zf.namelist()
    assert all(n.startswith("bundle/") for n in names) and "bundle/manifest.json" in names


def test_export_copies_the_sessions_own_audit_log_and_records_its_head(session, tmp_path):
    b = export_session(session, tmp_path / "bundle", make_zip=False).directory
    assert (b / "audit.jsonl").read_bytes() == (session / "audit.jsonl").read_bytes()
    m = json.loads((b / MANIFEST).read_text())
    assert m["audit"]["head"] == audit.read_chain(session / "audit.jsonl").head and m["audit"]["entries"] == 5
    assert m["audit"]["chained"] == "while the session ran"
    check = {c["name"]: c for c in verify_bundle(b)["checks"]}["audit chain"]
    assert check["status"] == "pass" and "5 entries" in check["evidence"]


def test_a_session_without_its_own_audit_log_gets_one_chained_at_export(session, tmp_path):
    (session / "audit.jsonl").unlink()
    with open(session / "events.jsonl", "w") as f:  # a session written before the live audit log
        for i, kind in enumerate(["setup", "ranging-start", "review"]):
            f.write(json.dumps({"t": T0 + i * 30, "kind": kind}) + "\n")
    b = export_session(session, tmp_path / "bundle", make_zip=False).directory
    lines = [json.loads(x) for x in (b / "audit.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in lines]
    assert kinds.count("connected") == 2 and "review" in kinds and "ranging-start" in kinds
    assert [e["seq"] for e in lines] == list(range(len(lines)))
    assert [e["t"] for e in lines] == sorted(e["t"] for e in lines)
    assert json.loads((b / MANIFEST).read_text())["audit"]["chained"].startswith("at export")
    assert verify_bundle(b)["valid"]


def test_a_broken_session_audit_log_stops_the_export_naming_file_and_line(session, tmp_path):
    lines = (session / "audit.jsonl").read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"ranging-done", b"ranging-gone")
    (session / "audit.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(ExportError, match=r"audit\.jsonl:3: entry 2 was changed"):
        export_session(session, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists() and not (tmp_path / "bundle.zip").exists()


def test_a_torn_audit_tail_stays_out_of_the_bundle_and_is_said(session, tmp_path):
    raw = (session / "audit.jsonl").read_bytes()
    (session / "audit.jsonl").write_bytes(raw[:-40])  # killed while writing the last entry
    b = export_session(session, tmp_path / "bundle", make_zip=False).directory
    assert (b / "audit.jsonl").read_bytes() == b"".join(raw.splitlines(keepends=True)[:4])
    m = json.loads((b / MANIFEST).read_text())
    assert m["audit"]["entries"] == 4 and "audit.jsonl:5" in m["audit"]["torn_tail"]
    check = {c["name"]: c for c in verify_bundle(b)["checks"]}["audit chain"]
    assert check["status"] == "pass" and "not part of the bundle" in check["evidence"]
    # cutting the bundle's own copy short afterwards is a failure, not a torn tail
    (b / "audit.jsonl").write_bytes((b / "audit.jsonl").read_bytes()[:-3])
    check = {c["name"]: c for c in verify_bundle(b)["checks"]}["audit chain"]
    assert check["status"] == "fail" and "audit.jsonl:4" in check["evidence"]


def test_every_instrument_of_the_manifest_carries_its_calibration_due_date(session, tmp_path):
    s = json.loads((session / "session.json").read_text())
    s["instruments"].append({"id": "meter-2"})  # nothing known about its calibration
    (session / "session.json").write_text(json.dumps(s))
    b = export_session(session, tmp_path / "bundle", make_zip=False).directory
    m = json.loads((b / MANIFEST).read_text())
    due = {i["id"]: i["calibration_due"] for i in m["instruments"]}
    assert due == {"sim-1": "2027-06-30", "meter-2": None}
    html = (b / "report.html").read_text()
    assert "calibration due 2027-06-30" in html


def test_any_changed_byte_in_any_file_fails_and_names_the_file(session, tmp_path):
    b = export_session(session, tmp_path / "bundle", sign=True, make_zip=False).directory
    files = sorted(p for p in b.rglob("*") if p.is_file())
    assert len(files) >= 12
    for p in files:
        original = p.read_bytes()
        pos = len(original) // 2
        p.write_bytes(original[:pos] + bytes([original[pos] ^ 0x01]) + original[pos + 1:])
        try:
            result = verify_bundle(b)
        finally:
            p.write_bytes(original)
        rel = p.relative_to(b).as_posix()
        assert not result["valid"], rel
        failed = " ".join(f"{c['name']} {c['evidence']}" for c in result["checks"] if c["status"] == "fail")
        assert rel in failed or p.name in failed, (rel, failed)
    assert verify_bundle(b)["valid"]


def test_added_removed_and_unsigned_files_are_named(session, tmp_path):
    b = export_session(session, tmp_path / "bundle", sign=True, make_zip=False).directory
    (b / "runs" / "extra.txt").write_text("added later")
    r = verify_bundle(b)
    assert not r["valid"] and any("runs/extra.txt" in c["evidence"] for c in r["checks"])
    (b / "runs" / "extra.txt").unlink()
    (b / "samples/ranging/sim-1.npy").unlink()
    r = verify_bundle(b)
    assert any(c["name"] == "file samples/ranging/sim-1.npy" and "missing" in c["evidence"] for c in r["checks"])


def test_signature_removed_or_by_another_key_fails(session, tmp_path):
    b = export_session(session, tmp_path / "bundle", sign=True, make_zip=False).directory
    other = signing.public_pem(signing.load_or_create_key(tmp_path / "other.pem"))
    r = verify_bundle(b, trusted_key=other)
    sig = {c["name"]: c for c in r["checks"]}["signature"]
    assert sig["status"] == "fail" and "not by the trusted key" in sig["evidence"]
    (b / SIGNATURE).unlink()
    r = verify_bundle(b)
    assert not r["valid"] and "signature was removed" in {c["name"]: c for c in r["checks"]}["signature"]["evidence"]


def test_station_key_is_kept_per_station_and_private(tmp_path):
    k1 = signing.load_or_create_key()
    k2 = signing.load_or_create_key()
    assert signing.public_pem(k1) == signing.public_pem(k2)
    assert (signing.key_path().stat().st_mode & 0o777) == 0o600


def test_export_refuses_bad_sessions_and_leaves_nothing(session, tmp_path):
    (session / "review.json").unlink()
    with pytest.raises(ExportError, match="review"):
        export_session(session, tmp_path / "b1")
    assert not (tmp_path / "b1").exists() and not list(tmp_path.glob(".b1*")) and not (tmp_path / "b1.zip").exists()
    with pytest.raises(ExportError, match="not a session"):
        export_session(tmp_path / "nowhere", tmp_path / "b2")


def test_export_does_not_overwrite(session, tmp_path):
    export_session(session, tmp_path / "bundle")
    with pytest.raises(ExportError, match="already exists"):
        export_session(session, tmp_path / "bundle")


def test_cancelled_runs_are_not_exported(session, tmp_path):
    write_run(session / "testing_2", [1.0] * 10, T0 + 200)
    summary = session / "testing_2" / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "state": "cancelled"}))
    b = export_session(session, tmp_path / "bundle", make_zip=False).directory
    assert not (b / "samples" / "testing_2").exists()
    assert json.loads((b / MANIFEST).read_text())["runs"] == ["ranging", "testing_1"]


def test_invalid_samples_stay_out_of_the_report_plot(tmp_path):
    from station.bundle.report import envelope

    block = make_block(T0, 100, 0.1, np.full(100, 5.0))
    block["w"][10:20] = 1e6
    block["flags"][10:20] = int(Flag.OVERRANGE)
    t, mean, lo, hi = envelope(block, bins=10)
    assert np.nanmax(hi) == pytest.approx(5.0)


def test_pdf_report_is_written_by_qt(session, tmp_path):
    pytest.importorskip("PySide6.QtSvg")
    from station.ui.pdf_report import write_pdf

    b = export_session(session, tmp_path / "bundle", make_zip=False, pdf_writer=write_pdf).directory
    pdf = (b / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    m = json.loads((b / MANIFEST).read_text())
    assert "report.pdf" in m["files"]


def test_station_export_command(session, tmp_path, capsys):
    from station.cli import main

    assert main(["export", str(session), "--out", str(tmp_path / "bundle"), "--sign", "--no-pdf", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["signed"] and Path(out["zip"]).is_file() and out["files"] >= 10
    assert verify_bundle(tmp_path / "bundle")["valid"]
    assert main(["export", str(tmp_path / "missing")]) == 2
    assert "not a session directory" in capsys.readouterr().err


def test_bundle_holds_the_mlperf_layout(session, tmp_path):
    from station.bundle.mlperf_layout import write_layout

    (session / "testing_1" / "mlperf_log_detail.txt").write_text(':::MLLOG {"key": "power_begin"}\n')
    b = export_session(session, tmp_path / "bundle", make_zip=False, mlperf_writer=write_layout).directory
    for rel in ("ranging/spl.txt", "run_1/spl.txt", "run_1/ptd_out.txt", "power/ptd_logs.txt",
                "run_1/mlperf_log_detail.txt"):
        assert (b / rel).is_file(), rel
    lines = [x for x in (b / "run_1/spl.txt").read_text().splitlines() if x]
    # 600 samples at 0.1 s from a whole second: 60 one-second samples
    assert len(lines) == 60
    fields = lines[0].split(",")
    assert fields[0] == "Time" and fields[2] == "Watts" and fields[-2] == "Mark" and fields[-1] == "s-1_testing"
    watts = np.array([float(x.split(",")[3]) for x in lines])
    recorded = np.load(b / "samples/testing_1/sim-1.npy")
    assert watts.mean() == pytest.approx(recorded["w"].mean(), rel=1e-6)
    assert (b / "run_1/mlperf_log_detail.txt").read_text() == (session / "testing_1" / "mlperf_log_detail.txt").read_text()
    m = json.loads((b / MANIFEST).read_text())
    assert "run_1/spl.txt" in m["mlperf"] and "run_1/spl.txt" in m["files"]
    assert verify_bundle(b)["valid"]


@pytest.mark.slow
def test_a_guided_session_bundle_recomputes_its_checks_from_the_samples(tmp_path, capsys):
    from station import rules
    from station.procedure import InstrumentSpec, Procedure, SetupInfo

    session = tmp_path / "guided"
    p = Procedure(session)
    info = SetupInfo("Ada", "box", "bench", "Offline",
                     rules.load("lab", ["ranging_required=true", "settle_s=0.1", "sample_interval_s=0.01"]),
                     [InstrumentSpec("sim", options={"seed": 2})])
    try:
        p.start_setup(info)
        assert p.wait(120) and p.problem is None, p.problem
        for step in ("ranging", "testing"):
            if step == "testing":
                p.select_ranges()
            (p.start_ranging if step == "ranging" else p.start_testing)()
            wait_until(lambda: p._recording is not None, 60, f"the {step} recording to start")
            # the operator's workload window: its timing is the stimulus, nothing is awaited
            time.sleep(0.2)
            p.mark("begin")
            time.sleep(0.5)  # the window's length
            p.mark("end")
            time.sleep(0.1)  # a little measuring after it
            p.end_run()
            assert p.wait(120) and p.problem is None, p.problem
        p.start_review()
        assert p.wait(120) and p.review["valid"], p.review
        p.finish()
    finally:
        p.close()
    b = export_session(session, tmp_path / "bundle", make_zip=False).directory
    result = verify_bundle(b)
    checks = {c["name"]: c for c in result["checks"]}
    assert result["valid"], [c for c in result["checks"] if c["status"] == "fail"]
    assert checks["rule checks recomputed"]["status"] == "pass"
    assert checks["metric recomputed"]["status"] == "pass"
    assert result["metric"]["unit"] == "W" and result["metric"]["value"] > 0


# -- the report: times, metrics, plot labels ----------------------------------------------------------------

_REPORT_T0 = 1796650000.0  # 2026-12-07 13:26:40 UTC


def _report_manifest() -> dict:
    stats = {"samples": 6500, "valid_samples": 6480, "average_w": 412.37, "peak_w": 530.2,
             "first_overrange": _REPORT_T0 + 12.25, "uncertainty_max": 0.0041, "energy_j": 26804.1}
    return {"bundle_id": "b-1", "created_utc": "2026-12-07T13:36:41+00:00", "valid": True,
            "metric": {"value": 412.37, "unit": "W"}, "checks": [], "instruments": [],
            "metrics": {"testing_1": {
                "window_s": 65.0, "average_power_w": 412.37, "energy_j": 26804.1, "instruments": {"wt310-1": stats},
                "gpio_windows": [{"begin": _REPORT_T0 + 1, "end": _REPORT_T0 + 11, "energy_uj": 1234.5}]}}}


def test_the_report_shows_utc_date_times_and_metrics_with_names_and_units():
    import re

    from station.bundle.report import build_html

    page = build_html(_report_manifest(), [])
    assert not re.search(r"17966\d{5}", page)  # no epoch seconds anywhere
    assert "2026-12-07 13:36:41 UTC" in page  # created
    assert "2026-12-07 13:26:52.250 UTC" in page  # the first overrange
    assert "2026-12-07 13:26:41 UTC" in page and "2026-12-07 13:26:51 UTC" in page  # a GPIO window
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<tr>(.*?)</tr>", page)]
    assert "Average power412.37 W" in cells and "Workload window65.0 s" in cells
    assert "Energy26.804 kJ (7.4456 Wh)" in cells
    assert "Uncertainty, largest0.41 %" in cells
    assert not any(": " in c and c.split(": ")[0].islower() for c in cells)  # no raw "key: value" dump
    assert "average_power_w" not in page and "window_s" not in page


def test_report_plot_labels_never_overlap():
    import re

    from station.bundle.report import CHAR_W, RunPlot, svg_plot

    t = np.linspace(0, 130, 600)
    w = 400 + 20 * np.sin(t / 5)
    windows = [(_REPORT_T0 + 2, _REPORT_T0 + 60, "workload (LoadGen power_begin..power_end)"),
               (_REPORT_T0 + 61, _REPORT_T0 + 62, "workload 2"), (_REPORT_T0 + 63, _REPORT_T0 + 129, "warm-up")]
    svg = svg_plot(RunPlot("testing_1", _REPORT_T0, t, w, w - 5, w + 5, windows=windows))
    texts = [(float(x), float(y), anchor, re.sub(r"<[^>]+>", "", body)) for x, y, anchor, body in re.findall(
        r'<text x="([\d.]+)" y="([\d.]+)"(?: text-anchor="(\w+)")?[^>]*>(.*?)</text>', svg)]
    boxes = []
    for x, y, anchor, body in texts:
        width = len(body) * CHAR_W
        left = x - width / 2 if anchor == "middle" else (x - width if anchor == "end" else x)
        boxes.append((left, left + width, y - 11, y + 2, body))  # font 12: ascent 11, descent 2
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2]
            assert apart, f"{a[4]!r} overlaps {b[4]!r}"
    assert "seconds since 2026-12-07 13:26:40 UTC" in svg
