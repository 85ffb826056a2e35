import os
import socket

from kotdevice.device.sdnotify import Notifier, notify, watchdog_interval_s


def _listener(path_or_abstract):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path_or_abstract)
    s.settimeout(1.0)
    return s


def test_noop_outside_systemd():
    assert notify("READY=1", env={}) is False


def test_datagram_to_path_socket(tmp_path):
    path = str(tmp_path / "notify.sock")
    with _listener(path) as s:
        assert notify("READY=1", env={"NOTIFY_SOCKET": path})
        assert s.recv(100) == b"READY=1"


def test_abstract_namespace_socket():
    name = f"kot-test-{os.getpid()}"
    with _listener("\0" + name) as s:
        assert notify("WATCHDOG=1", env={"NOTIFY_SOCKET": "@" + name})
        assert s.recv(100) == b"WATCHDOG=1"


def test_missing_socket_does_not_raise(tmp_path):
    assert notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


def test_notifier_ready_once_and_watchdog_rate(tmp_path):
    path = str(tmp_path / "n.sock")
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(env) == 2.0
    with _listener(path) as s:
        n = Notifier(env=env, min_interval_s=1.0)
        n.ready("ok")
        n.ready("again")
        for t in (0.0, 0.3, 0.9, 1.0, 1.5, 2.2):
            n.watchdog(t)
        n.stopping()
        s.settimeout(0.2)
        got = []
        try:
            while True:
                got.append(s.recv(100).decode())
        except socket.timeout:
            pass
    assert got == ["READY=1\nSTATUS=ok", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"]


def test_watchdog_for_another_pid_is_ignored():
    assert watchdog_interval_s({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}) is None
