"""What the motion engine reports. Plain frozen dataclasses: the runtime stores and publishes
them, ``kotdevice replay`` prints them (CONTRACTS §3), tests compare them.

Times are sample-clock seconds (``t_s`` of the samples), never wall-clock.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

EXERCISES = ("squat", "tib_raise", "backward_walk")


@dataclass(frozen=True)
class RepEvent:
    exercise: str  # one of EXERCISES
    variant: str | None  # e.g. "split_squat", "heel_elevated", "step_up"
    set_index: int  # 0-based, counts sets since the engine started
    rep_index: int  # 1-based within its set
    start_s: float
    end_s: float
    peak_angle_deg: float  # tibial angle at the deepest point (knee furthest over the toes)
    rom_deg: float  # range of motion: peak minus the rep's starting angle
    eccentric_s: float
    pause_s: float
    concentric_s: float
    tut_s: float  # time under tension
    peak_frontal_deg: float  # largest frontal-plane wobble during the rep
    partial: bool
    detected_s: float  # sample time at which the engine reported the rep

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SetEvent:
    exercise: str
    variant: str | None
    set_index: int
    start_s: float
    end_s: float
    reps: tuple[RepEvent, ...]
    mean_peak_deg: float
    max_peak_deg: float
    tempo_cv: float  # coefficient of variation of rep durations (0 = perfectly even)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reps"] = [r.to_dict() for r in self.reps]
        return d


@dataclass(frozen=True)
class KneeToWallEvent:
    """A held maximum in knee-to-wall (weight-bearing lunge) test mode."""

    t_s: float
    leg: str  # "left" | "right" | "unknown"
    angle_deg: float
    hold_s: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MountEvent:
    """The mount calibration was found or changed (strap re-adjusted, manual calibration)."""

    t_s: float
    reason: str  # "initial" | "readjusted" | "manual"
    rotation_about_shin_deg: float
    leg: str  # "left" | "right" | "unknown"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GapEvent:
    """The sensor layer lost samples; forwarded so the session records the gap."""

    start_s: float
    duration_s: float
    samples_lost: int
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


Event = RepEvent | SetEvent | KneeToWallEvent | MountEvent | GapEvent


@dataclass
class EngineState:
    """A live snapshot, cheap to read after every block (for the live topic and the LEDs)."""

    t_s: float = 0.0
    tibial_angle_deg: float = 0.0
    frontal_angle_deg: float = 0.0
    activity: str = "idle"  # "idle" | "moving" | "in_set" | "test"
    exercise: str | None = None
    set_index: int | None = None
    reps_in_set: int = 0
    calibrated: bool = False
    extra: dict = field(default_factory=dict)
