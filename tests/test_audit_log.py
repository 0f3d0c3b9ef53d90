"""The session's audit log: chained as it is written, continued after a restart, a torn tail told
apart from tampering, and ``station verify`` on session directories that were never exported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from station.measurement import audit
from station.measurement.audit import AuditError, AuditLog, audit_check, read_chain, read_entries

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_764_360_000.0
pytestmark = pytest.mark.timeout(120)


def _log(path: Path, n: int, start: int = 0) -> None:
    with AuditLog(path) as log:
        for i in range(start, start + n):
            log.append("step", t=T0 + i, n=i)


def test_every_entry_is_on_disk_and_chained_when_append_returns(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    try:
        log.append("setup", t=T0, operator="Ada")
        log.append("ranges_confirmed", t=T0 + 1, voltage=300.0, current=float("nan"))
        # read by another reader while the log is still open: nothing waits for close()
        rep = read_chain(path)
        assert rep.intact and rep.torn_tail is None and rep.entries == 2 and rep.head == log.head
        items = read_entries(path)
        assert [e["kind"] for e in items] == ["setup", "ranges_confirmed"]
        assert items[1]["current"] is None  # JSON has no NaN: no value
        assert items[1]["prev"] == items[0]["hash"] and items[0]["prev"] == audit.GENESIS
    finally:
        log.close()
    with pytest.raises(AuditError, match="closed"):
        log.append("late")


def test_appends_from_many_threads_make_one_valid_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        def writer(k: int) -> None:
            for i in range(50):
                log.append("range", instrument=f"inst{k}", i=i)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    rep = read_chain(path)
    assert rep.intact and rep.entries == 200 and rep.torn_tail is None


def test_reopening_continues_the_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    _log(path, 3)
    _log(path, 2, start=3)
    rep = read_chain(path)
    assert rep.intact and rep.entries == 5
    assert [e["seq"] for e in read_entries(path)] == list(range(5))


def test_a_torn_last_line_is_reported_as_torn_then_cut_off_and_recorded_on_reopen(tmp_path):
    path = tmp_path / "audit.jsonl"
    _log(path, 4)
    whole = path.read_bytes()
    path.write_bytes(whole[:-30])  # a kill in the middle of the last write
    rep = read_chain(path)
    assert rep.intact and rep.entries == 3
    assert rep.torn_tail is not None and "audit.jsonl:4" in rep.torn_tail and "cut short" in rep.torn_tail
    check = audit_check(path, torn_tail_fails=False)
    assert check.status == "warn" and "audit.jsonl:4" in check.evidence
    assert audit_check(path, torn_tail_fails=True).status == "fail"
    # the restarted process cuts the fragment off and keeps it in the chain
    _log(path, 1, start=10)
    rep = read_chain(path)
    assert rep.intact and rep.torn_tail is None and rep.entries == 5
    items = read_entries(path)
    torn = items[3]
    assert torn["kind"] == "audit_torn_tail" and torn["cut_bytes"] == len(whole.splitlines(True)[3]) - 30
    assert whole.splitlines(True)[3][:-30].decode() == torn["fragment"]
    assert items[4]["n"] == 10


def test_a_whole_last_entry_without_its_line_end_is_kept(tmp_path):
    path = tmp_path / "audit.jsonl"
    _log(path, 3)
    path.write_bytes(path.read_bytes()[:-1])
    rep = read_chain(path)
    assert rep.entries == 3 and rep.tail_whole and "lacks its line end" in rep.torn_tail
    _log(path, 1, start=3)
    assert [e["kind"] for e in read_entries(path)] == ["step"] * 4
    assert read_chain(path).torn_tail is None


@pytest.mark.parametrize("how", ["changed", "removed", "moved", "garbage"])
def test_a_broken_chain_is_named_by_line_and_not_continued(tmp_path, how):
    path = tmp_path / "audit.jsonl"
    _log(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    if how == "changed":
        lines[2] = lines[2].replace(b'"n":2', b'"n":7')
    elif how == "removed":
        del lines[2]
    elif how == "moved":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines[2] = b"\x00\xff not json\n"
    path.write_bytes(b"".join(lines))
    rep = read_chain(path)
    assert not rep.intact and rep.problems[0].startswith(("audit.jsonl:2", "audit.jsonl:3"))
    check = audit_check(path, torn_tail_fails=False)
    assert check.status == "fail" and "audit.jsonl:" in check.evidence
    with pytest.raises(AuditError, match="audit.jsonl:"):
        AuditLog(path)


def test_a_single_changed_byte_anywhere_fails_the_check(tmp_path):
    path = tmp_path / "audit.jsonl"
    _log(path, 4)
    original = path.read_bytes()
    for pos in range(0, len(original), 7):
        if original[pos:pos + 1] == b"\n":
            continue
        changed = bytearray(original)
        changed[pos] ^= 0x01
        path.write_bytes(bytes(changed))
        assert audit_check(path, torn_tail_fails=False).status == "fail", pos
    path.write_bytes(original)
    assert audit_check(path, torn_tail_fails=False).status == "pass"


def test_a_killed_writer_leaves_a_chain_that_verifies(tmp_path):
    """Entries appended before a kill -9 are all there (flushed per entry), the chain intact."""
    path = tmp_path / "audit.jsonl"
    code = ("import sys, time\n"
            "from station.measurement.audit import AuditLog\n"
            "log = AuditLog(sys.argv[1])\n"
            "i = 0\n"
            "while True:\n"
            "    log.append('tick', i=i, pad='x' * 500)\n"
            "    i += 1\n"
            "    if i == 50: print('ready', flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    rep = read_chain(path)
    assert rep.intact and rep.entries >= 50
    _log(path, 1, start=0)  # the next process goes on with the same file
    assert read_chain(path).intact


def test_sync_interval_is_bounded_like_the_journal(tmp_path):
    with pytest.raises(ValueError):
        AuditLog(tmp_path / "a.jsonl", sync_interval=5.0)
    with AuditLog(tmp_path / "b.jsonl", sync_interval=0) as log:  # fsync per entry
        log.append("x")
    assert read_chain(tmp_path / "b.jsonl").entries == 1


def test_the_bundle_module_is_the_same_log():
    from station.bundle import audit as bundle_audit

    assert bundle_audit.AuditLog is AuditLog and bundle_audit.verify_chain is audit.verify_chain


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _kinds(path: Path) -> list[str]:
    return [e.get("kind") for e in read_entries(path)] if path.exists() else []


def _verify(path: Path, env: dict) -> tuple[int, dict]:
    res = subprocess.run([sys.executable, "-m", "station", "verify", str(path), "--json"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    return res.returncode, json.loads(res.stdout) if res.stdout.strip() else {}


def _flip_byte_in_line(path: Path, lineno: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    line = bytearray(lines[lineno - 1])
    line[len(line) // 2] ^= 0x01
    lines[lineno - 1] = bytes(line)
    path.write_bytes(b"".join(lines))


def test_station_verify_checks_the_audit_log_of_a_measure_session_killed_mid_run(tmp_path, station_home):
    out = tmp_path / "session"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STATION_HOME": str(station_home), "QT_QPA_PLATFORM": "offscreen"}
    # the workload outlives nothing: it ends by itself a few seconds after the station is killed
    workload = f"{sys.executable} -c \"import time; time.sleep(4)\""
    cmd = [sys.executable, "-m", "station", "measure", "--instrument", "sim,profile=training,seed=5",
           "--rules", "mlperf-inference", "--set", "sample_interval_s=0.05", "--set", "min_testing_s=0.3",
           "--set", "settle_s=0.1", "--workload", workload, "--out", str(out), "--yes",
           "--operator", "Ada", "--sut", "test box", "--benchmark", "resnet50"]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: "workload_started" in _kinds(out / "audit.jsonl") or proc.poll() is not None, 90,
                 "the ranging run's workload to start")
        assert proc.poll() is None, proc.stderr.read().decode()
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind runs
        proc.wait(30)
        proc.stderr.close()
    assert not (out / "ranging" / "summary.json").exists()  # killed mid-run indeed
    code, result = _verify(out, env)
    assert code == 0, result
    checks = {c["name"]: c for c in result["checks"]}
    assert result["kind"] == "session" and checks["audit chain"]["status"] in ("pass", "warn")
    assert checks["run ranging"]["status"] == "warn" and "interrupted" in checks["run ranging"]["evidence"]
    # one changed byte in the audit log fails the audit check and names file and line
    _flip_byte_in_line(out / "audit.jsonl", 2)
    code, result = _verify(out, env)
    assert code == 1
    audit_checks = [c for c in result["checks"] if "audit" in c["name"]]
    assert audit_checks and audit_checks[0]["status"] == "fail"
    assert "audit.jsonl:2" in audit_checks[0]["evidence"]


def test_station_verify_exit_codes_for_session_directories(tmp_path, capsys):
    from station.cli import main

    session = tmp_path / "session"
    session.mkdir()
    (session / "session.json").write_text(json.dumps({"session_id": "s-1", "state": "open", "step": "ranging"}))
    assert main(["verify", str(session)]) == 1  # no audit log: the events cannot be checked
    assert "audit.jsonl is missing" in capsys.readouterr().out
    _log(session / "audit.jsonl", 3)
    assert main(["verify", str(session)]) == 0
    out = capsys.readouterr().out
    assert "VALID" in out and "3 entries" in out
    (session / "audit.jsonl").write_bytes((session / "audit.jsonl").read_bytes()[:-10])
    assert main(["verify", str(session)]) == 0  # a torn tail is what a kill leaves: a warning
    assert "WARN] audit chain" in capsys.readouterr().out
    assert main(["verify", str(tmp_path / "empty-dir-that-is-nothing")]) == 2
    (tmp_path / "nothing").mkdir()
    assert main(["verify", str(tmp_path / "nothing")]) == 2
    assert "session directory" in capsys.readouterr().err


def test_a_director_session_keeps_its_audit_log_and_calibration_date_and_verifies(tmp_path, capsys):
    from instruments.base import Config
    from instruments.sim import SimulatedAnalyzer
    from station.cli import main
    from station.core.acquisition import InstrumentSession
    from station.director.session import Analyzer, DirectorSession
    from station.measurement.calibration import CalibrationStore

    inst = InstrumentSession("inst0", SimulatedAnalyzer(seed=9, profile="training"), Config(update_interval_s=0.01))
    inst.connect()
    CalibrationStore().set_due(inst.identity.serial, "2020-02-29", set_by="test")  # expired: still recorded
    session_dir = tmp_path / "out" / "s-1"
    s = DirectorSession("s-1", session_dir, Analyzer(inst), label="t", client_uuid="c", server_uuid="s",
                        client="127.0.0.1:1", settle_s=0.0, stop=threading.Event())
    try:
        for mode in ("ranging", "testing"):
            s.start(mode)
            wait_for(lambda: s.current.recording.summary()["samples"] >= 20, 60, f"{mode} samples")
            assert read_chain(session_dir / "audit.jsonl").intact  # on disk while the phase records
            s.stop(mode)
        s.finish("complete")
    finally:
        inst.close()
    state = json.loads((session_dir / "director.json").read_text())
    assert state["instrument"]["calibration_due"] == "2020-02-29"
    items = read_entries(session_dir / "audit.jsonl")
    kinds = [e["kind"] for e in items]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert kinds.count("phase_start") == 2 and kinds.count("phase_end") == 2 and "ranges_set" in kinds
    assert items[0]["instrument"]["calibration_due"] == "2020-02-29"
    testing = next(e for e in items if e["kind"] == "phase_start" and e["phase"] == "testing")
    assert testing["ranges"] == list(s.testing_ranges)
    assert main(["verify", str(session_dir)]) == 0
    out = capsys.readouterr().out
    assert "director session s-1" in out and "run journal/testing" in out and "FAIL" not in out
    _flip_byte_in_line(session_dir / "audit.jsonl", 3)
    assert main(["verify", str(session_dir), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    audit_check_ = next(c for c in result["checks"] if "audit" in c["name"])
    assert audit_check_["status"] == "fail" and "audit.jsonl:3" in audit_check_["evidence"]
