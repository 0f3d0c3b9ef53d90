"""The journal keeps what was recorded: round trip, torn tails, refusal to overwrite, disk errors."""

import errno
import json

import numpy as np
import pytest

from station.core.journal import (
    EVENTS,
    HEADER,
    InstrumentEntry,
    JournalError,
    JournalReader,
    JournalWriter,
    samples_file,
)
from station.core.recovery import recover
from station.core.samples import SAMPLE_DTYPE, Flag, sample_dtype
from tests.helpers.sample_blocks import make_block


def entry(inst_id="inst0", dtype=SAMPLE_DTYPE, interval=0.001):
    return InstrumentEntry(inst_id, "sim", dtype, interval, {"identity": {"model": "X"}})


def test_round_trip_keeps_every_sample_and_event(tmp_path):
    w = JournalWriter(tmp_path / "run", [entry()], settings={"duration_s": 3})
    blocks = [make_block(1000.0 + i, 1000, 0.001, 50.0 + i) for i in range(3)]
    for b in blocks:
        w.write("inst0", b)
    w.event("mark", t=1001.5, note="operator mark")
    w.close({"state": "complete"})

    r = JournalReader(tmp_path / "run")
    assert r.complete
    got = r.samples("inst0")
    assert len(got) == 3000
    np.testing.assert_array_equal(got, np.concatenate(blocks))
    assert r.header["settings"] == {"duration_s": 3}
    assert r.instruments["inst0"].info["identity"] == {"model": "X"}
    assert [e["kind"] for e in r.events()] == ["mark"]
    assert r.lock_pid() is None  # released on close


def test_multichannel_records_survive(tmp_path):
    dt = sample_dtype(3)
    w = JournalWriter(tmp_path / "run", [entry(dtype=dt)])
    b = make_block(0.0, 10, 0.1, 30.0, dtype=dt)
    b["ch_w"] = [[10.0, 10.0, 10.0]] * 10
    w.write("inst0", b)
    w.close()
    got = JournalReader(tmp_path / "run").samples()
    assert got.dtype == dt
    np.testing.assert_array_equal(got["ch_w"], b["ch_w"])


def test_refuses_to_overwrite_a_recorded_run(tmp_path):
    JournalWriter(tmp_path / "run", [entry()]).close()
    before = (tmp_path / "run" / HEADER).read_bytes()
    with pytest.raises(JournalError, match="already holds a recorded run"):
        JournalWriter(tmp_path / "run", [entry()])
    assert (tmp_path / "run" / HEADER).read_bytes() == before


def test_sync_interval_may_not_exceed_one_second(tmp_path):
    with pytest.raises(ValueError):
        JournalWriter(tmp_path / "run", [entry()], sync_interval=2.0)


def test_sync_makes_data_visible_without_close(tmp_path):
    w = JournalWriter(tmp_path / "run", [entry()])
    w.write("inst0", make_block(0.0, 500, 0.001, 10.0))
    w.sync()
    assert len(JournalReader(tmp_path / "run").samples()) == 500
    w.close()


def test_recovery_cuts_a_torn_record_and_a_torn_event_line(tmp_path):
    d = tmp_path / "run"
    w = JournalWriter(d, [entry()])
    w.write("inst0", make_block(0.0, 100, 0.001, 20.0))
    w.event("started")
    w.sync()
    # Simulate a kill in the middle of a write: half a record and half an event line.
    with open(d / samples_file("inst0"), "ab") as f:
        f.write(make_block(0.1, 1, 0.001, 20.0).tobytes()[:17])
    with open(d / EVENTS, "a") as f:
        f.write('{"kind": "tor')
    w._stop.set()  # abandon the writer like a dead process would (no close, no summary)

    summary = recover(d)
    assert summary["state"] == "recovered"
    assert summary["samples"] == 100
    assert summary["avg_w"] == pytest.approx(20.0)
    assert summary["energy_j"] == pytest.approx(20.0 * 100 * 0.001)
    assert (d / (samples_file("inst0") + ".torn")).stat().st_size == 17
    kinds = [e["kind"] for e in JournalReader(d).events()]
    assert kinds == ["started", "recovered"]
    # Recovering again is harmless and gives the same answer.
    assert recover(d)["samples"] == 100


def test_recover_refuses_a_run_that_is_still_recording(tmp_path, monkeypatch):
    d = tmp_path / "run"
    w = JournalWriter(d, [entry()])
    lock = json.loads((d / "journal.lock").read_text())
    lock["pid"] = 1  # init: alive, and not us
    (d / "journal.lock").write_text(json.dumps(lock))
    with pytest.raises(JournalError, match="still being recorded"):
        recover(d)
    w.close()


def test_a_full_disk_stops_the_journal_with_a_clear_error(tmp_path):
    w = JournalWriter(tmp_path / "run", [entry()])
    w.write("inst0", make_block(0.0, 10, 0.001, 1.0))

    class FullDisk:
        def __init__(self, real):
            self.real = real

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.real, name)

    w._files["inst0"] = FullDisk(w._files["inst0"])
    with pytest.raises(JournalError, match="No space left on device.*kept"):
        w.write("inst0", make_block(0.01, 10, 0.001, 1.0))
    with pytest.raises(JournalError):
        w.event("anything")
    w._files["inst0"] = w._files["inst0"].real
    w.close()
    assert len(JournalReader(tmp_path / "run").samples()) == 10


def test_reader_rejects_a_directory_without_a_run(tmp_path):
    with pytest.raises(JournalError, match="no recorded run"):
        JournalReader(tmp_path)
    (tmp_path / HEADER).write_text("{not json")
    with pytest.raises(JournalError, match="unreadable"):
        JournalReader(tmp_path)


def test_flags_round_trip(tmp_path):
    w = JournalWriter(tmp_path / "run", [entry()])
    w.write("inst0", make_block(0.0, 4, 1.0, 5.0, flags=int(Flag.OVERRANGE)))
    w.close()
    assert (JournalReader(tmp_path / "run").samples()["flags"] == int(Flag.OVERRANGE)).all()
