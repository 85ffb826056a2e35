"""The sample types that pass between layers.

Blocks of samples (not single samples) cross layer boundaries because the drivers read the
chip's FIFO in bursts and numpy works on arrays; a block of one is fine too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImuBlock:
    """Consecutive IMU samples, sensor frame (CONTRACTS §1/§2 units)."""

    t_s: np.ndarray  # (n,) float64, strictly increasing
    accel_g: np.ndarray  # (n, 3) float64, specific force in g
    gyro_dps: np.ndarray  # (n, 3) float64, angular rate in deg/s

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @staticmethod
    def empty() -> "ImuBlock":
        return ImuBlock(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))

    @staticmethod
    def concat(blocks: list["ImuBlock"]) -> "ImuBlock":
        blocks = [b for b in blocks if len(b)]
        if not blocks:
            return ImuBlock.empty()
        return ImuBlock(
            np.concatenate([b.t_s for b in blocks]),
            np.concatenate([b.accel_g for b in blocks]),
            np.concatenate([b.gyro_dps for b in blocks]),
        )

    def slice(self, start: int, stop: int) -> "ImuBlock":
        return ImuBlock(self.t_s[start:stop], self.accel_g[start:stop], self.gyro_dps[start:stop])


@dataclass(frozen=True)
class Gap:
    """Samples the sensor layer could not deliver (FIFO overflow, bus fault, unplugged)."""

    start_s: float  # sample-clock time of the first missing sample
    duration_s: float
    samples_lost: int
    reason: str  # "fifo_overflow" | "bus_error" | "disconnect" | ...
