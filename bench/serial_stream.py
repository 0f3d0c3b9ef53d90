"""Benchmark of the LPM01A serial path: pty fake -> driver -> acquisition worker -> live store sink.

The fake board runs in its own process (so its CPU is not counted) and streams, paced by the
wall clock, ``bin_hexa`` at 100 kHz and then ``ascii_dec`` at 5 kHz. For each stream, two
phases read it for --seconds each, every phase in its own process:

  ours      LPM01A driver through InstrumentSession (worker thread) into a LiveStore sink
  baseline  the usual host script: pyserial ``readline()`` and one ``float()`` per line
            (ascii_dec, as the MLPerf Tiny runner parses), or reads plus a per-word Python
            decode loop (bin_hexa, which has no lines)

Figures per stream: samples per second delivered, samples lost (the fake's own count of what
its buffer had to drop, plus gaps the driver reported), CPU seconds per wall second of the
reading process, and parsing throughput = samples per CPU second of the reading process.

    python bench/serial_stream.py [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

from _figures import all_met, emit, figure  # bench/ is on sys.path when a script in it runs

ROOT = Path(__file__).resolve().parents[1]
BAUD = 3_686_400
STREAMS = (("bin_hexa", 100_000), ("ascii_dec", 5_000))
FAKE = "from instruments.fakes.lpm01a import main; main()"
CAPTURE_BYTES = 32 << 20  # up to 32 MiB of the stream are kept for the parser comparison
CHUNK = 1 << 16
PARSE_REPEATS = 5


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def freq_token(rate: int) -> str:
    return f"{rate // 1000}k" if rate >= 1000 else str(rate)


# -- phases (each in its own process) ---------------------------------------------------------------
def phase_ours(port: str, fmt: str, rate: int, seconds: float) -> dict:
    import numpy as np

    from instruments.base import Config
    from instruments.lpm01a import LPM01A
    from instruments.transports.serial import SerialTransport
    from station.core.acquisition import InstrumentSession
    from station.core.live_store import LiveStore
    from station.core.samples import Flag

    transport = SerialTransport(port, baudrate=BAUD, timeout=2.0)
    captured = bytearray()
    read_bytes = transport.read_bytes

    def tee(size, timeout=None):  # keep what the driver read, to time the parsers on it afterwards
        data = read_bytes(size, timeout)
        if len(captured) < CAPTURE_BYTES:
            captured.extend(data)
        return data

    transport.read_bytes = tee
    driver = LPM01A(transport, data_format=fmt)
    session = InstrumentSession("lpm", driver, Config(update_interval_s=1.0 / rate))
    session.connect()
    store = LiveStore(dtype=session.dtype, interval_s=1.0 / rate)
    counts = {"samples": 0, "invalid": 0, "gap_flags": 0}

    def count(block):
        counts["samples"] += len(block)
        counts["invalid"] += int(np.count_nonzero(block["flags"] & int(Flag.INVALID)))
        counts["gap_flags"] += int(np.count_nonzero(block["flags"] & int(Flag.GAP_BEFORE)))

    session.add_sink(store.append)
    session.add_sink(count)
    t0, c0 = time.perf_counter(), cpu_s()
    session.start()
    time.sleep(seconds)
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    session.stop()
    session.close()
    parse = parse_throughput(bytes(captured), fmt)
    return {"samples": counts["samples"], "wall_s": wall, "cpu_s": cpu, "samples_per_s": counts["samples"] / wall,
            "cpu_per_wall": cpu / wall, "end_to_end_samples_per_cpu_s": counts["samples"] / cpu, **parse,
            "driver_lost": driver.stats["lost"], "invalid": counts["invalid"], "gaps": counts["gap_flags"],
            "garbled": driver.stats["garbled"]}


def phase_baseline(port: str, fmt: str, rate: int, seconds: float) -> dict:
    import serial

    ser = serial.Serial(port, BAUD, timeout=0.5)

    def command(cmd: str) -> None:
        ser.write((cmd + "\n").encode())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            line = ser.readline().decode(errors="replace")
            if f"ack {cmd}" in line:
                return
            if "error" in line:
                raise SystemExit(f"board refused {cmd!r}: {line.strip()}")
        raise SystemExit(f"no answer to {cmd!r}")

    for cmd in ("htc", f"freq {freq_token(rate)}", "acqtime 0", "output current", f"format {fmt}",
                "trigsrc sw", "eventsrc d7 fal", "pwr auto", "acqmode dyn", "start"):
        command(cmd)
    values: list[float] = []
    t0, c0 = time.perf_counter(), cpu_s()
    end = t0 + seconds
    if fmt == "ascii_dec":
        while time.perf_counter() < end:
            line = ser.readline()
            if not line:
                continue
            text = line.decode(errors="replace").strip()
            if text[:1].isdigit():
                try:
                    values.append(float(text.replace("+", "e+").replace("-", "e-")))
                except ValueError:
                    values.append(float("nan"))
    else:
        buf = b""
        while time.perf_counter() < end:
            buf += ser.read(max(1, ser.in_waiting))
            i, n = 0, len(buf) - 1
            while i < n:
                hi = buf[i]
                if hi == 0xF0 and buf[i + 1] in (0xF3, 0xF4, 0xF5):  # timestamp / end / event block
                    size = {0xF3: 9, 0xF4: 4, 0xF5: 6}[buf[i + 1]]
                    if i + size > len(buf):
                        break
                    i += size
                    continue
                values.append(((hi & 0x0F) << 8 | buf[i + 1]) * 16.0 ** -(hi >> 4))
                i += 2
            buf = buf[i:]
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    ser.write(b"stop\n")
    time.sleep(0.5)
    ser.reset_input_buffer()
    ser.write(b"hrc\n")
    time.sleep(0.1)
    ser.close()
    n = len(values)
    return {"samples": n, "wall_s": wall, "cpu_s": cpu, "samples_per_s": n / wall, "cpu_per_wall": cpu / wall,
            "end_to_end_samples_per_cpu_s": n / cpu}


def baseline_parse_ascii(data: bytes) -> int:
    """What a readline() loop does per line once it has the line: decode, strip, one float()."""
    n = 0
    for line in io.BytesIO(data):
        text = line.decode(errors="replace").strip()
        if text[:1].isdigit():
            try:
                float(text.replace("+", "e+").replace("-", "e-"))
            except ValueError:
                pass
            n += 1
    return n


def baseline_parse_binary(data: bytes) -> int:
    """The per-word loop of the baseline reader, over the same bytes in the same chunks."""
    values = []
    for start in range(0, len(data), CHUNK):
        buf = data[start:start + CHUNK]
        i, n = 0, len(buf) - 1
        while i < n:
            hi = buf[i]
            if hi == 0xF0 and buf[i + 1] in (0xF3, 0xF4, 0xF5):
                i += {0xF3: 9, 0xF4: 4, 0xF5: 6}[buf[i + 1]]
                continue
            values.append(((hi & 0x0F) << 8 | buf[i + 1]) * 16.0 ** -(hi >> 4))
            i += 2
    return len(values)


def parse_throughput(data: bytes, fmt: str) -> dict:
    """Samples per CPU second of parsing alone, ours and the baseline's, on the same captured bytes."""
    from instruments.lpm01a import AsciiStream, BinaryStream

    def ours() -> int:
        stream = BinaryStream() if fmt == "bin_hexa" else AsciiStream()
        n = 0
        for start in range(0, len(data), CHUNK):
            for item in stream.feed(data[start:start + CHUNK]):
                n += len(getattr(item, "values", ()))
        return n

    base = baseline_parse_binary if fmt == "bin_hexa" else lambda d: baseline_parse_ascii(d)
    out = {"captured_bytes": len(data)}
    for name, fn in (("ours", ours), ("baseline", lambda: base(data))):
        best = math.inf
        for _ in range(PARSE_REPEATS):  # best of a few: other work on the machine only ever slows a run
            c0 = time.process_time()
            n = fn()
            best = min(best, time.process_time() - c0)
        out[f"parse_{name}_samples"] = n
        out[f"parse_{name}_samples_per_cpu_s"] = n / max(best, 1e-9)
    return out


# -- orchestration -----------------------------------------------------------------------------------
class FakeBoard:
    """The fake LPM01A in its own process; asked for its counters through its stdin."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", FAKE, "--buffer-kib", "128"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = self.proc.stdout.readline().strip()
        if not self.port:
            raise SystemExit("the fake LPM01A did not start")

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return dict(kv.split("=") for kv in self.proc.stdout.readline().split())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def run_phase(name: str, port: str, fmt: str, rate: int, seconds: float) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--port", port, "--format", fmt, "--rate", str(rate),
           "--seconds", str(seconds)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise SystemExit(f"phase {name} ({fmt}) failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds each phase reads (default 60)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--phase", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--port", help=argparse.SUPPRESS)
    ap.add_argument("--format", help=argparse.SUPPRESS)
    ap.add_argument("--rate", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))

    if args.phase:
        run = phase_ours if args.phase == "ours" else phase_baseline
        print(json.dumps(run(args.port, args.format, args.rate, args.seconds)))
        return 0

    figures: dict = {}
    phases: dict = {}
    board = FakeBoard()
    try:
        for fmt, rate in STREAMS:
            key = f"{fmt}_{rate // 1000}khz"
            results = {}
            for name in ("ours", "baseline"):
                before = int(board.stats()["dropped"])
                r = run_phase(name, board.port, fmt, rate, args.seconds)
                r["board_dropped"] = int(board.stats()["dropped"]) - before
                # What the board had to drop (ground truth), or what the driver saw missing if more.
                r["lost"] = max(r["board_dropped"], r.get("driver_lost", 0))
                results[name] = r
            ours, base = results["ours"], results["baseline"]
            phases[key] = results
            label = f"LPM01A {fmt} at {rate // 1000} kHz"
            loop = "readline() + float() per line" if fmt == "ascii_dec" else "chunked reads + per-word decode loop"
            figures[f"{key}_samples_per_s"] = figure(ours["samples_per_s"], base["samples_per_s"], 0.99 * rate,
                                                     "higher", unit="samples/s", what=f"{label}: samples delivered",
                                                     baseline_is=loop)
            figures[f"{key}_lost_samples"] = figure(ours["lost"], base["lost"], 0, "lower", unit="samples",
                                                    what=f"{label}: lost samples", baseline_is=loop)
            figures[f"{key}_cpu_s_per_wall_s"] = figure(ours["cpu_per_wall"], base["cpu_per_wall"], 0.5, "lower",
                                                        unit="CPU s/s", what=f"{label}: CPU per wall second",
                                                        baseline_is=loop)
            figures[f"{key}_parse_samples_per_cpu_s"] = figure(
                ours["parse_ours_samples_per_cpu_s"], ours["parse_baseline_samples_per_cpu_s"], 10.0, "higher",
                on="ratio", unit="samples/CPU s", what=f"{label}: parsing alone (best of 5)", baseline_is=loop)
            out = sys.stderr if args.json else sys.stdout
            print(f"{fmt} at {rate:,} Hz, {args.seconds:g} s per phase:", file=out)
            for name, r in (("ours", ours), ("baseline", base)):
                print(f"  {name:<9} {r['samples_per_s']:>10,.0f} samples/s  lost {r['lost']:>8,}  "
                      f"CPU {r['cpu_per_wall']:.3f} s/s  end to end {r['end_to_end_samples_per_cpu_s']:>12,.0f} "
                      "samples/CPU-s", file=out)
            print(f"  parsing alone, same {ours['captured_bytes']:,} bytes: ours "
                  f"{ours['parse_ours_samples_per_cpu_s']:,.0f}, baseline {ours['parse_baseline_samples_per_cpu_s']:,.0f} "
                  f"samples/CPU-s = {ours['parse_ours_samples_per_cpu_s'] / ours['parse_baseline_samples_per_cpu_s']:.1f}x",
                  file=out)
    finally:
        board.close()
    if args.json:
        emit("serial_stream", figures, seconds=args.seconds, phases=phases)
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
