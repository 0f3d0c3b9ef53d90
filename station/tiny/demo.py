"""``station tiny --demo``: the whole energy procedure on EMULATED hardware, no boards needed.

The DUT + interface board (:class:`instruments.fakes.tiny_dut.TinyRig`) and the LPM01A
(:class:`instruments.fakes.lpm01a.Lpm01aDevice`) are emulations on pseudo-terminals; the station
drives them through the same serial ports, driver and procedure (:func:`station.tiny.procedure.run_energy`)
as real boards. Nothing here measures hardware, and every output says so: the summary
(``emulated``, ``emulation``), ``log.txt`` and ``results.txt``.

Timing is real by default (five windows of at least 10 s: about a minute and a half). Tests run the
same boards on a faster shared clock (``time_scale``); the result is the same, only sooner.

Faults (``fault``), each one the station must catch, not score:

- ``dropped-samples``: the monitor's buffer loses 300 samples inside trial 2's window;
- ``partial-tokens``: 100 samples inside trial 2's window arrive cut short (the rest of a line lost);
- ``stale-ack``: the monitor answers ``eventsrc`` only after the next command was sent;
- ``missing-edge``: trial 2 raises only its first timestamp edge;
- ``extra-edge``: trial 1 raises a third edge halfway through its window;
- ``dut-stops``: the DUT stops answering halfway through trial 3.

Trials are numbered from 0, as in the checks' evidence (trial 2 is the third).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the emulated boards are imported when a demo runs, not when the CLI starts
    from instruments.fakes.lpm01a import Lpm01aDevice
    from instruments.fakes.tiny_dut import ScaledClock, TinyRig
    from station.tiny.procedure import TinyRunResult

STREAMING_DEMO_S = 1200.0  # the demo's streaming trial lasts as long as the runner's long_wav.wav
STREAMING_WAV = "long_wav.wav"

FAULTS: dict[str, str] = {
    "dropped-samples": "the monitor's buffer loses 300 samples inside trial 2's window",
    "partial-tokens": "100 samples inside trial 2's window arrive cut short",
    "stale-ack": "the monitor answers 'eventsrc' only after the next command",
    "missing-edge": "trial 2 raises only its first timestamp edge",
    "extra-edge": "trial 1 raises a third timestamp edge halfway through its window",
    "dut-stops": "the DUT stops answering halfway through trial 3",
}
EMULATION_NOTE = ("EMULATION: station tiny --demo ran on an emulated DUT + interface board and an emulated "
                  "LPM01A (no hardware was measured); this is not an MLPerf Tiny result")
INPUT_BYTES = 490  # a kws01 input: 49 x 10 int8 features
DEMO_VOLTAGE_V = 3.0


def write_dataset(directory: Path, count: int = 5, size: int = INPUT_BYTES) -> list[Path]:
    """``count`` made-up input files (deterministic bytes) for the emulated DUT to load."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = directory / f"emulated_input_{i:02d}.bin"
        p.write_bytes(bytes((i * 37 + k * 11) % 256 for k in range(size)))
        paths.append(p)
    return paths


def write_truth(directory: Path, length_s: float) -> tuple[Path, list[float]]:
    """A streaming-wakeword truth file in the runner's format for an emulated wav of ``length_s``:
    a wakeword every 25 s (from 9.5 s on), 0.6 s long. Returns the file and the wakeword times."""
    directory.mkdir(parents=True, exist_ok=True)
    starts = [9.5 + 25.0 * k for k in range(int(max(0.0, length_s - 10.5) // 25.0) + 1) if 9.5 + 25.0 * k + 1 < length_s]
    path = directory / "sww_emulated_test.json"
    path.write_text(json.dumps([{"wav_file": STREAMING_WAV, "length_sec": length_s,
                                 "detection_windows": [[a, a + 0.6] for a in starts]}], indent=1))
    return path, starts


def build_bench(clock: ScaledClock, fault: str | None = None, model: str = "kws01", stream_s: float = 1200.0,
                detect_at: tuple[float, ...] = ()) -> tuple[TinyRig, Lpm01aDevice]:
    """The emulated DUT + interface board and the LPM01A powering it, with ``fault`` armed."""
    from instruments.fakes.lpm01a import Lpm01aDevice
    from instruments.fakes.tiny_dut import TinyRig

    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose one of {', '.join(FAULTS)}")
    rig = TinyRig(clock, model=model, missing_edge_trial=2 if fault == "missing-edge" else None,
                  extra_edge_trial=1 if fault == "extra-edge" else None, stream_s=stream_s,
                  detect_at=detect_at, wav_file=STREAMING_WAV)
    board = Lpm01aDevice(seed=5, clock=clock)
    board.workload = rig.load_for(board)
    if fault == "dropped-samples":
        rig.during_window(2, lambda: board.overflow(300))
    elif fault == "partial-tokens":
        rig.during_window(2, lambda: board.truncate_next(100))
    elif fault == "stale-ack":
        board.stale_ack("eventsrc")
    elif fault == "dut-stops":
        rig.during_window(3, rig.stop_answering)
    return rig, board


def run_demo(out: Path, *, fault: str | None = None, time_scale: float = 1.0, streaming: bool = False,
             streaming_s: float = STREAMING_DEMO_S, progress: Callable[[str], None] | None = None) -> TinyRunResult:
    """Run the energy procedure (or the streaming-wakeword one) on emulated boards into ``out``."""
    from instruments.fakes.tiny_dut import ScaledClock
    from instruments.lpm01a import BAUDRATE, ENERGY_MODE_OPTIONS, LPM01A
    from instruments.transports.serial import SerialTransport
    from station.tiny.procedure import run_energy

    clock = ScaledClock(time_scale)
    say = progress or (lambda text: None)
    say(EMULATION_NOTE)
    if fault:
        say(f"fault armed: {FAULTS[fault]}")
    with tempfile.TemporaryDirectory(prefix="station-tiny-demo-") as tmp:
        if streaming:
            truth, starts = write_truth(Path(tmp), streaming_s)
            files = [truth]
            # The emulated DUT hears each wakeword 0.3 s after it starts.
            rig, board = build_bench(clock, fault, model="sww01", stream_s=streaming_s,
                                     detect_at=tuple(a + 0.3 for a in starts))
        else:
            files = write_dataset(Path(tmp))
            rig, board = build_bench(clock, fault)
        try:
            monitor = LPM01A(SerialTransport(board.port, baudrate=BAUDRATE, timeout=2.0),
                             **{**ENERGY_MODE_OPTIONS, "target_voltage_v": DEMO_VOLTAGE_V})
            interface = SerialTransport(rig.port, baudrate=115_200, write_termination="%", timeout=2.0)
            return run_energy(monitor=monitor, interface=interface, dataset=files, out=Path(out), clock=clock,
                              progress=progress, emulation=EMULATION_NOTE, streaming=streaming)
        finally:
            rig.close()
            board.close()


__all__ = ["EMULATION_NOTE", "FAULTS", "build_bench", "run_demo", "write_dataset"]
