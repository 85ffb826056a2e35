"""Motion sources for the simulated chip: any iterable of ImuBlock (true physical values).

``FileSource`` replays a contract CSV; ``StillSource`` is a person standing still with sensor
noise (the default of ``--sim``). Both are plain iterables, so a generator from the athlete
simulator works just as well.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from kotdevice.samples import ImuBlock


class FileSource:
    """Replays a contract CSV (CONTRACTS §2) as a motion source.

    The first block is parsed at construction so that a missing or malformed file is refused
    (InputFileError naming file and line) before any bus is built.
    """

    def __init__(self, path: str | Path, block_size: int = 1024):
        from kotdevice import rawcsv

        self.path = Path(path)
        self._block_size = block_size
        it = rawcsv.iter_blocks(self.path, block_size)
        self._first = next(it)  # raises InputFileError for bad files
        self._rest = it
        self._used = False

    def __iter__(self) -> Iterator[ImuBlock]:
        from kotdevice import rawcsv

        if not self._used:
            self._used = True
            yield self._first
            yield from self._rest
        else:  # iterating again replays from the start
            yield from rawcsv.iter_blocks(self.path, self._block_size)


class StillSource:
    """Quiet standing, shin vertical (X up): |a| ~ 1 g, gyro noise ~0.3 dps (REAL-SIGNALS §1).

    Endless; yields one-second blocks at ``rate_hz``.
    """

    def __init__(self, rate_hz: float = 1000.0, seed: int = 1, accel_noise_g: float = 0.002,
                 gyro_noise_dps: float = 0.3, tilt_deg: float = 4.0):
        self.rate_hz = float(rate_hz)
        self.seed = seed
        self.accel_noise_g = accel_noise_g
        self.gyro_noise_dps = gyro_noise_dps
        th = np.radians(tilt_deg)
        self._g = np.array([np.cos(th), 0.0, np.sin(th)])  # gravity reaction, slight forward lean

    def __iter__(self) -> Iterator[ImuBlock]:
        rng = np.random.default_rng(self.seed)
        n = max(1, int(self.rate_hz))
        k0 = 0
        while True:
            t = (k0 + np.arange(n)) / self.rate_hz
            a = self._g + rng.normal(0.0, self.accel_noise_g, (n, 3))
            g = rng.normal(0.0, self.gyro_noise_dps, (n, 3))
            yield ImuBlock(t, a, g)
            k0 += n
