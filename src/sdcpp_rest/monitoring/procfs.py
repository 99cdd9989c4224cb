"""Linux /proc readers for memory and CPU facts (psutil is not a dependency). Every reader answers
None when the file is missing or unreadable: another OS, a process that just ended."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")
_KIB = 1024


def status_bytes(field: str, pid: int | str = "self") -> int | None:
    """A `kB` field of /proc/<pid>/status (VmRSS: resident now, VmHWM: peak resident), in bytes."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            parts = line.split()
            return int(parts[1]) * _KIB if len(parts) >= 2 and parts[1].isdigit() else None
    return None


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM (Linux >= 4.0), so the next reading is the peak of one job only."""
    try:
        (PROC / "self" / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes, e.g. {"MemTotal": ..., "MemAvailable": ...}; {} when unreadable."""
    values: dict[str, int] = {}
    try:
        lines = (PROC / "meminfo").read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[name] = int(parts[0]) * (_KIB if len(parts) > 1 and parts[1] == "kB" else 1)
    return values


def cpu_model() -> str | None:
    """The CPU's marketing name from /proc/cpuinfo (`model name`; `Hardware`/`Model` on ARM)."""
    try:
        lines = (PROC / "cpuinfo").read_text().splitlines()
    except OSError:
        return None
    for key in ("model name", "Hardware", "Model"):
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return None
