"""Mount calibration: where the leg's lateral axis lies in the sensor frame.

The tibial angle needs the sagittal plane (forward, up) in the sensor frame. Up comes from
the fusion; the plane's normal is the leg's lateral axis ("right"), which the knee flexes
about. A strap rotated about the shin moves that axis in the sensor frame, so it is learned
(the principal axis of the gyro during movement, see ``_engine_kernels``) or loaded from a
saved calibration. Its sign is fixed by the mount convention: sensor +Z points out of the
skin, so forward = up x right must have a positive Z component - on either leg.

This module holds the pure maths and the JSON form; learning runs in the engine kernel.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kotdevice.errors import KotError
from kotdevice.motion import _engine_kernels as K

MOUNT_VERSION = 1
LEGS = ("left", "right", "unknown")


@dataclass(frozen=True)
class Mount:
    right_axis: tuple[float, float, float]  # unit lateral axis (wearer's right), sensor frame
    up_stand: tuple[float, float, float] | None = None  # up at quiet standing, sensor frame
    leg: str = "unknown"
    source: str = "auto"  # "auto" | "manual" | "saved"

    @property
    def rotation_about_shin_deg(self) -> float:
        return rotation_about_shin_deg(np.asarray(self.right_axis))

    def to_dict(self) -> dict:
        d = {
            "version": MOUNT_VERSION,
            "right_axis": [round(float(v), 6) for v in self.right_axis],
            "rotation_about_shin_deg": round(self.rotation_about_shin_deg, 2),
            "leg": self.leg,
            "source": self.source,
        }
        if self.up_stand is not None:
            d["up_stand"] = [round(float(v), 6) for v in self.up_stand]
            d["stand_angle_deg"] = round(float(tibial_angle_deg(np.asarray(self.up_stand),
                                                               np.asarray(self.right_axis))), 2)
        return d

    @staticmethod
    def from_dict(d) -> "Mount":
        """Validate a saved mount; ValueError with one clear line when it is malformed."""
        if not isinstance(d, dict):
            raise ValueError(f"mount must be a JSON object, got {type(d).__name__}")
        if d.get("version", MOUNT_VERSION) != MOUNT_VERSION:
            raise ValueError(f"mount version {d.get('version')!r} is not supported (want {MOUNT_VERSION})")
        r = _unit3(d.get("right_axis"), "right_axis")
        up = d.get("up_stand")
        up = None if up is None else _unit3(up, "up_stand")
        leg = d.get("leg", "unknown") or "unknown"
        if leg not in LEGS:
            raise ValueError(f"mount leg must be one of {LEGS}, got {leg!r}")
        return Mount(tuple(r), None if up is None else tuple(up), leg, "saved")


def _unit3(v, name: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"mount {name} must be 3 numbers, got {v!r}") from None
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ValueError(f"mount {name} must be 3 finite numbers, got {v!r}")
    n = float(np.linalg.norm(a))
    if n < 1e-6:
        raise ValueError(f"mount {name} must not be the zero vector")
    return a / n


def rotation_about_shin_deg(right_axis: np.ndarray) -> float:
    """How far the strap is turned about the shin: the lateral axis' angle from +Y in the
    sensor's Y-Z plane (+ = toward +Z)."""
    return math.degrees(math.atan2(float(right_axis[2]), float(right_axis[1])))


def angles_deg(up: np.ndarray, right_axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tibial and frontal angles (deg) from up vectors (n,3) or (3,) and the lateral axis
    ((3,), or one per up vector), both in the sensor frame (the shared definitions with
    x_s = sensor +X). The engine kernel's own projection, so both read the same; NaN where
    the axis lies along up."""
    u = np.ascontiguousarray(np.atleast_2d(np.asarray(up, dtype=np.float64)))
    r = np.ascontiguousarray(np.atleast_2d(np.asarray(right_axis, dtype=np.float64)))
    tib = np.empty(len(u))
    fro = np.empty(len(u))
    K.project_many(u, r, tib, fro)
    return tib, fro


def tibial_angle_deg(up, right_axis) -> float:
    """The tibial angle of one up vector (3,) for one lateral axis (3,)."""
    return float(K._proj(float(up[0]), float(up[1]), float(up[2]),
                         float(right_axis[0]), float(right_axis[1]), float(right_axis[2]))[0])


def save_mount(path: str | Path, mount_dict: dict) -> None:
    Path(path).write_text(json.dumps(mount_dict, indent=2) + "\n", encoding="utf-8")


def load_mount(path: str | Path) -> dict:
    """Read and validate a saved mount; KotError (one line) when unusable."""
    p = Path(path)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise KotError(f"{p}: cannot read mount calibration: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise KotError(f"{p}:{e.lineno}: not valid JSON: {e.msg}") from None
    try:
        Mount.from_dict(d)
    except ValueError as e:
        raise KotError(f"{p}: {e}") from None
    return d
