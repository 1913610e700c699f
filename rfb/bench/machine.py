"""The machine under a benchmark: its busy fraction, CPU seconds, what it is (Linux /proc)."""

from __future__ import annotations

import os
import time
from typing import Any

Ticks = tuple[int, int]  # clock ticks of all CPUs since boot: (all, idle + iowait)


def cpu_ticks() -> Ticks | None:
    """All CPUs' clock ticks since boot and the idle ones among them, from /proc/stat
    (None where there is no /proc)."""
    try:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals), idle


def busy_fraction(before: Ticks | None, after: Ticks | None) -> float | None:
    """The share of the ticks between two :func:`cpu_ticks` that were not idle (None when
    either is unknown or no tick went by)."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    total, idle = after[0] - before[0], after[1] - before[1]
    return 1 - idle / total


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class MachineLoad:
    """The machine's busy fraction and this process's CPU over a span (Linux /proc).

    The span begins when it is made, or again at :meth:`start`."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._t, self._cpu, self._stat = time.monotonic(), time.process_time(), cpu_ticks()

    def busy(self) -> float:
        """The machine's busy fraction since the span began (0.0 when unknown)."""
        busy = busy_fraction(self._stat, cpu_ticks())
        return 0.0 if busy is None else busy

    def record(self) -> dict[str, Any]:
        wall = max(1e-9, time.monotonic() - self._t)
        out: dict[str, Any] = {
            "process_cpu_s_per_s": round((time.process_time() - self._cpu) / wall, 3)
        }
        busy = busy_fraction(self._stat, cpu_ticks())
        if busy is not None:
            out["machine_busy"] = round(busy, 3)
        return out


def machine_record() -> dict[str, Any]:
    """What the figures were measured on: CPUs, Python, PyAV and its libavcodec."""
    import platform

    out: dict[str, Any] = {
        "kind": "machine",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    try:
        import av

        out["pyav"] = av.__version__
        out["ffmpeg"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except ImportError:
        pass
    return out
