"""The systemd notify protocol in a few lines of stdlib: one datagram to ``$NOTIFY_SOCKET``.

A no-op outside systemd (no ``NOTIFY_SOCKET``), and never raises: a lost notification must
not take the sampling loop down (systemd's watchdog will notice if it keeps failing).
"""
from __future__ import annotations

import os
import socket


def notify(state: str, env: dict | None = None) -> bool:
    """Send e.g. ``"READY=1"``, ``"WATCHDOG=1"``, ``"STOPPING=1"``. True if sent."""
    addr = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):  # abstract namespace socket
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(state.encode("utf-8"))
        return True
    except OSError:
        return False


def watchdog_interval_s(env: dict | None = None) -> float | None:
    """Half of ``$WATCHDOG_USEC`` (systemd's advice), or None if no watchdog is configured."""
    e = env if env is not None else os.environ
    try:
        usec = int(e.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = e.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    return usec / 2e6 if usec > 0 else None


class Notifier:
    """READY once, WATCHDOG at most every ``interval`` (cheap to call from every loop turn)."""

    def __init__(self, env: dict | None = None, min_interval_s: float = 1.0):
        self.env = env
        wd = watchdog_interval_s(env)
        self.interval_s = min(wd, min_interval_s) if wd else min_interval_s
        self.ready_sent = False
        self._last_wd = float("-inf")

    def ready(self, status: str | None = None) -> None:
        if not self.ready_sent:
            self.ready_sent = True
            notify("READY=1" + (f"\nSTATUS={status}" if status else ""), self.env)

    def watchdog(self, now_s: float) -> None:
        if now_s - self._last_wd >= self.interval_s:
            self._last_wd = now_s
            notify("WATCHDOG=1", self.env)

    def stopping(self) -> None:
        notify("STOPPING=1", self.env)
