"""How the UI's pages write times, durations and numbers, shared by every page that shows them.

Kept out of ``views/`` (every module there is a page with routes) so that one page need not
import another to format a value the same way.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from runlab.entities import Run


def format_timestamp(millis: int | None) -> str:
    """A time in milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` UTC, or a dash."""
    if millis is None:
        return "—"
    return datetime.fromtimestamp(millis / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def format_number(value: float | None) -> str:
    """A metric value as the tables show it: six significant digits, or NaN/±Infinity/—."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return f"{value:.6g}"


def format_duration(millis: int | None) -> str:
    """A duration as people read it: ``850 ms``, ``42.1 s``, ``3m 05s``, ``2h 07m``, ``3d 4h``."""
    if millis is None or millis < 0:
        return "—"
    if millis < 1000:
        return f"{millis} ms"
    seconds = millis / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def run_duration(run: Run, now_millis: int) -> tuple[str, bool]:
    """The run's duration text, and whether it is still going (no end time yet)."""
    start, end = run.info.start_time, run.info.end_time
    if start is None:
        return "—", False
    if end is None:
        # A run without an end is running (or was killed without saying so): time so far.
        return format_duration(now_millis - start), True
    return format_duration(end - start), False
