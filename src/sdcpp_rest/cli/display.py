"""What the client commands show people: the one-line progress bar of `generate` and the table of
`queue`. Pure formatting over the API's job fields, kept apart from the HTTP and WebSocket logic."""

from __future__ import annotations

import shutil
import sys
from typing import Any, TextIO

from sdcpp_rest.schemas.jobs import JobStatus

BAR_WIDTH = 20
PROMPT_COLUMN_MIN = 20


def clock_text(milliseconds: float) -> str:
    seconds = max(int(round(milliseconds / 1000)), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe_progress(update: dict[str, Any]) -> str:
    """One line for a job state: phase, bar, percent, step n/N, speed and time left."""
    status = str(update.get("status") or "")
    if status == JobStatus.QUEUED:
        position = update.get("position") or 0
        return f"queued (position {position})" if position else "queued"
    progress = min(max(float(update.get("progress") or 0.0), 0.0), 1.0)
    filled = round(progress * BAR_WIDTH)
    parts = [f"{update.get('phase') or status:<9}", f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]"]
    parts.append(f"{progress:4.0%}")
    total = int(update.get("total_steps") or 0)
    if total:
        parts.append(f"step {int(update.get('current_step') or 0)}/{total}")
    speed = update.get("speed")
    if speed:
        # Slow CPU runs take seconds per step; "0.05 steps/s" reads worse than "20.0 s/step".
        parts.append(f"{speed:.2f} steps/s" if speed >= 1 else f"{1 / speed:.1f} s/step")
    if status == JobStatus.PROCESSING:
        remaining = update.get("time_remaining")
        parts.append(f"ETA {clock_text(remaining) if remaining is not None else '--:--'}")
    return "  ".join(parts)


def write_out(line: str) -> None:
    """A result line on stdout (paths, tables, JSON), flushed so that pipes see it at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def write_err(line: str) -> None:
    """A message for the person at the terminal on stderr, flushed."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class ProgressLine:
    """A status line redrawn in place with \\r (plain text, so it also reads sensibly in a log)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = ""
        self._width = 0

    def show(self, text: str) -> None:
        # A line longer than the terminal wraps, and \r then only returns to the wrapped part.
        text = text[: max(shutil.get_terminal_size((100, 20)).columns - 1, 20)]
        if text == self._last:
            return
        self._stream.write("\r" + text + " " * max(self._width - len(text), 0))
        self._stream.flush()
        self._last, self._width = text, len(text)

    def end(self) -> None:
        if self._width:
            self._stream.write("\n")
            self._stream.flush()
        self._last, self._width = "", 0

    def note(self, message: str) -> None:
        """A message on its own line; the bar continues below it."""
        self.end()
        self._stream.write(message + "\n")
        self._stream.flush()


# --- queue table ---


def _progress_cell(job: dict[str, Any]) -> str:
    status = job.get("status")
    if status == JobStatus.QUEUED:
        return f"#{job.get('position')}" if job.get("position") else "-"
    total = int(job.get("total_steps") or 0)
    percent = f"{float(job.get('progress') or 0):.0%}"
    return f"{percent} {int(job.get('current_step') or 0)}/{total}" if total else percent


def format_queue(queue: dict[str, Any], columns: int) -> list[str]:
    """The queue as an aligned table whose prompt column fills what the terminal has left."""
    jobs = queue.get("jobs") or []
    lines = [
        f"queued: {queue.get('size', 0)}, running: {queue.get('active_generations', 0)}"
        + ("" if queue.get("running", True) else " (server shutting down)")
    ]
    if not jobs:
        return [*lines, "no jobs"]
    rows = [(str(job.get("id")), str(job.get("status")), _progress_cell(job)) for job in jobs]
    widths = [max(len(row[i]) for row in [("ID", "STATUS", "PROGRESS"), *rows]) for i in range(3)]
    prompt_width = max(columns - sum(widths) - 2 * 3 - 1, PROMPT_COLUMN_MIN)

    def line(cells: tuple[str, str, str], prompt: str) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + "  " + prompt

    lines.append(line(("ID", "STATUS", "PROGRESS"), "PROMPT"))
    for job, row in zip(jobs, rows, strict=True):
        prompt = " ".join(str(job.get("prompt") or "").split())  # newlines would break the table
        if len(prompt) > prompt_width:
            prompt = prompt[: prompt_width - 3] + "..."
        lines.append(line(row, prompt))
    return lines
