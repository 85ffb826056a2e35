"""Time on a Pi without a real-time clock.

The wall clock is wrong at boot and jumps when time sync arrives, so the device never orders
or measures by it: durations come from the sample clock (or monotonic), order comes from a
sequence number, and each stored row keeps ``(boot_id, mono_s)``. The wall time of a row is
``mono_s + offset_s`` of its boot, where ``offset_s = wall - mono`` is re-measured when the
clock is seen to jump (a sync); updating one ``boots`` row then corrects every row of the
boot at once.
"""
from __future__ import annotations

import functools
import time
import uuid
from pathlib import Path
from typing import Callable

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"  # created by systemd-timesyncd on sync


def read_boot_id() -> str:
    try:
        return Path(BOOT_ID_PATH).read_text().strip()
    except OSError:
        # Not Linux: a per-process id still keeps (boot_id, mono) unique.
        return f"proc-{uuid.uuid4()}"


@functools.cache
def _adjtimex():
    """libc's ``adjtimex`` and a ``struct timex`` buffer type, or None. Loaded once: this is
    polled every second until the clock syncs, and ``ctypes.util.find_library`` would run
    ``ldconfig -p`` as a subprocess each time; ``CDLL(None)`` is the already loaded libc."""
    import ctypes

    class Timex(ctypes.Structure):  # modes + room for the rest of struct timex
        _fields_ = [("modes", ctypes.c_uint)] + [(f"f{i}", ctypes.c_long) for i in range(40)]

    try:
        return ctypes.CDLL(None, use_errno=True).adjtimex, Timex
    except (OSError, AttributeError):  # no libc to load, or no adjtimex in it (not Linux)
        return None


def system_clock_synced() -> bool | None:
    """True/False if the OS says so, None if it cannot tell."""
    if Path(TIMESYNC_FLAG).exists():
        return True
    try:  # adjtimex: TIME_ERROR (5) means "clock not synchronised"
        import ctypes

        found = _adjtimex()
        if found is None:
            return None
        adjtimex, Timex = found
        state = adjtimex(ctypes.byref(Timex()))
        if state < 0:
            return None
        return state != 5
    except Exception:
        return None


class DeviceClock:
    """Monotonic + wall with jump detection. ``wall``/``mono`` are injectable for tests."""

    def __init__(self, wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic,
                 boot_id: str | None = None, jump_threshold_s: float = 2.0,
                 synced_probe: Callable[[], bool | None] | None = system_clock_synced):
        self.wall = wall
        self.mono = mono
        self.boot_id = boot_id or read_boot_id()
        self.jump_threshold_s = jump_threshold_s
        self._probe = synced_probe
        self.offset_s = wall() - mono()
        self.synced = bool(synced_probe()) if synced_probe else False
        self.jumps = 0

    def now_wall(self) -> float:
        return self.wall()

    def check(self) -> bool:
        """Re-anchor if the wall clock jumped (or sync was just reported). True if changed."""
        offset = self.wall() - self.mono()
        changed = False
        if abs(offset - self.offset_s) > self.jump_threshold_s:
            self.offset_s = offset
            self.jumps += 1
            self.synced = True  # a step of the clock is what a sync looks like on a Pi
            changed = True
        elif not self.synced and self._probe and self._probe():
            self.offset_s = offset
            self.synced = True
            changed = True
        return changed
