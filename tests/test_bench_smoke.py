"""`kotdevice bench io` and `bench engine` at toy sizes: their tables parse and say what they
measured (the README figures come from full-size runs of the same commands)."""
from __future__ import annotations

import math

from kotdevice.cli import main


def _rows(out: str, first: str) -> list[list[str]]:
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in out.splitlines()
            if ln.startswith(f"| {first}")]


def test_bench_io_counts_what_crossed_the_wire(capsys):
    assert main(["bench", "io", "--seconds", "1", "--chips", "mpu6050"]) == 0
    rows = {int(r[1]): r for r in _rows(capsys.readouterr().out, "MPU-6050")}
    assert sorted(rows) == [100, 200, 1000]
    r = rows[200]
    poll_ms, per_read = float(r[3]), float(r[4])
    assert per_read == 200 * poll_ms / 1000  # every read drains the FIFO filled since the last
    assert 12.0 < float(r[6]) < 13.0  # 12 data bytes per sample plus the amortised header
    assert int(r[8]) == 0  # no gaps


def test_bench_engine_times_the_engine_beside_its_peers(capsys):
    assert main(["bench", "engine", "--rate", "100", "--repeat", "1", "--madgwick-samples", "300",
                 "--hours", "0"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out, "kotdevice") + _rows(out, "imufusion") + _rows(out, "vqf") + _rows(out, "ahrs")
    assert len(rows) == 6
    engine_us = float(rows[0][1])
    assert 0 < engine_us < 1000
    for r in rows[1:]:
        us, ratio = float(r[1]), float(r[2].rstrip("×"))
        assert math.isclose(ratio, us / engine_us, rel_tol=0.05, abs_tol=0.01)
