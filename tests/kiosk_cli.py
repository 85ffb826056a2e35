"""`kotdevice kiosk` as a child process, shared by the kiosk and broker-ACL tests."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

from kotdevice.commands.kiosk import served_url


@contextmanager
def kiosk_cli(args: list[str], db_path, env: dict | None = None):
    """Run `kotdevice kiosk ARGS` on a free loopback port; yields its URL once it serves.
    Leaving the block sends SIGTERM, which must end it cleanly (exit status 0)."""
    proc = subprocess.Popen([sys.executable, "-m", "kotdevice", "kiosk", *args, "--bind", "127.0.0.1",
                             "--http-port", "0", "--db", str(db_path)],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = served_url(proc.stderr)
        assert url, "the kiosk did not start"
        yield url
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def broker_connected(url: str, timeout_s: float = 5.0) -> bool:
    """Whether the kiosk's /healthz reports its broker connection within timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "healthz", timeout=5) as r:
            if json.loads(r.read())["broker"]["connected"]:
                return True
        time.sleep(0.05)
    return False
