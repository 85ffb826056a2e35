import ctypes.util
import subprocess

from kotdevice.device import clock


def test_system_clock_probe_spawns_no_process_and_loads_libc_once(monkeypatch, tmp_path):
    """The runtime polls the probe every second until the clock syncs: no subprocess
    (``find_library`` runs ``ldconfig -p``) and no reloading of libc per call."""
    spawned = []
    real_popen = subprocess.Popen

    def counting_popen(*a, **kw):
        spawned.append(a)
        return real_popen(*a, **kw)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: spawned.append(name))
    monkeypatch.setattr(clock, "TIMESYNC_FLAG", str(tmp_path / "no-flag"))  # take the adjtimex path
    clock._adjtimex.cache_clear()
    results = {clock.system_clock_synced() for _ in range(5)}
    assert spawned == []
    assert clock._adjtimex.cache_info().misses == 1
    assert len(results) == 1 and results <= {True, False, None}
    (tmp_path / "no-flag").touch()  # systemd-timesyncd's flag wins
    assert clock.system_clock_synced() is True
