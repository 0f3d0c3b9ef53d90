"""What a recorder that is still running has put on disk, read without disturbing it."""

from __future__ import annotations

from pathlib import Path

from station.core.journal import HEADER, JournalError, JournalReader, samples_file


def records_on_disk(run_dir: Path) -> int:
    """Whole sample records in the run's journal so far, summed over its instruments; 0 before it exists."""
    if not (run_dir / HEADER).exists():
        return 0
    try:
        reader = JournalReader(run_dir)
    except JournalError:
        return 0  # the header is being written
    total = 0
    for inst_id, entry in reader.instruments.items():
        path = run_dir / samples_file(inst_id)
        if path.exists():
            total += path.stat().st_size // entry.dtype.itemsize
    return total
