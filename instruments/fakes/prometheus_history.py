"""A real Prometheus over a synthetic fleet history: no test or benchmark waits for scrapes.

:func:`write_openmetrics` writes the power series of a fleet as OpenMetrics text (one sample per
second per series, each series' own profile, series that stop early), :func:`backfill` turns it
into TSDB blocks with ``promtool tsdb create-blocks-from openmetrics``, and
:class:`PrometheusServer` runs the Debian ``prometheus`` binary on 127.0.0.1 over those blocks.
The history lies a few hours in the past (promtool's blocks must not overlap the server's head
block), and the station reads it with the prometheus driver's ``from_utc`` replay.

Profiles are piecewise linear between whole seconds, so the trapezoid over the samples, which
is what the driver integrates, is their exact integral (:func:`exact_energy`).
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
HISTORY_AGE_S = 6 * 3600.0  # how far before now the synthetic history ends


@dataclass
class HistorySeries:
    """One series of the history: its labels, its power at each whole second, when it stops."""

    labels: dict[str, str]
    power: Callable[[int], float]  # watts at UTC second t (an int)
    stops_at: float = math.inf  # no sample at or after this UTC time
    resumes_at: float = math.inf  # samples again from this UTC time on (a series that was stale)
    metric: str = "node_power_watts"

    def has_sample(self, t: int) -> bool:
        return t < self.stops_at or t >= self.resumes_at

    def name(self) -> str:
        """The series' name as the prometheus driver writes it (labels sorted)."""
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


def history_end(now: float | None = None) -> int:
    """A whole UTC second far enough in the past for promtool's blocks."""
    return int((time.time() if now is None else now) - HISTORY_AGE_S)


def write_openmetrics(path: Path, series: Iterable[HistorySeries], start: int, end: int) -> int:
    """OpenMetrics text of every series' samples at whole seconds in [start, end]; the number of samples."""
    by_metric: dict[str, list[HistorySeries]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    count = 0
    with open(path, "w", encoding="ascii") as out:
        for metric, members in by_metric.items():
            out.write(f"# TYPE {metric} gauge\n# UNIT {metric} watts\n" if metric.endswith("_watts")
                      else f"# TYPE {metric} gauge\n")
            for s in members:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                lines = [f"{metric}{{{labels}}} {s.power(t)!r} {t}\n" for t in range(start, end + 1)
                         if s.has_sample(t)]
                out.writelines(lines)
                count += len(lines)
        out.write("# EOF\n")
    return count


def exact_energy(s: HistorySeries, a: float, b: float) -> float:
    """The integral over [a, b] of the series' samples, linear between them (where it has samples)."""
    energy = 0.0
    for t in range(math.floor(a), math.ceil(b)):
        if not (s.has_sample(t) and s.has_sample(t + 1)):
            continue
        lo, hi = max(a, t), min(b, t + 1)
        p0, p1 = s.power(t), s.power(t + 1)
        f_lo, f_hi = lo - t, hi - t
        energy += (p0 + (p1 - p0) * (f_lo + f_hi) / 2) * (hi - lo)
    return energy


def backfill(openmetrics: Path, data_dir: Path, timeout_s: float = 600.0) -> None:
    """TSDB blocks of ``openmetrics`` in ``data_dir`` (promtool); RuntimeError with promtool's words."""
    if PROMTOOL is None:
        raise RuntimeError("promtool is not installed (Debian package prometheus)")
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(openmetrics),
                           str(data_dir)], capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"promtool could not backfill {openmetrics}: {done.stderr.strip() or done.stdout}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PrometheusServer:
    """The ``prometheus`` binary on 127.0.0.1 over ``data_dir`` (a context manager), scraping
    ``targets`` (``host:port``) every second, or nothing."""

    data_dir: Path
    port: int = 0
    targets: tuple[str, ...] = ()
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        if PROMETHEUS is None:
            raise RuntimeError("prometheus is not installed (Debian package prometheus)")
        self.port = self.port or free_port()
        config = self.data_dir.parent / f"{self.data_dir.name}.yml"
        scrape = (f"scrape_configs:\n  - job_name: nodes\n    static_configs:\n"
                  f"      - targets: [{', '.join(self.targets)}]\n") if self.targets else "scrape_configs: []\n"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n" + scrape)
        self._log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "wb")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
             "--storage.tsdb.retention.time=3650d", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready(60.0)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}; see {self._log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus was not ready within {timeout_s:g} s; see {self._log.name}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
