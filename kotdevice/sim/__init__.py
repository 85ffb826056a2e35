"""The athlete simulator: a rigid-shin biomechanical model of each exercise, run through an IMU
error model, giving samples plus the ground truth of what happened (docs/sim.md)."""
from kotdevice.sim.imu_errors import ErrorParams
from kotdevice.sim.motion import REST_ACTIVITIES, SQUAT_VARIANTS, TEMPOS, WALK_VARIANTS
from kotdevice.sim.session import (
    EXERCISE_VARIANTS,
    SimResult,
    default_workout,
    simulate_session,
    simulate_set,
)

__all__ = [
    "ErrorParams", "SimResult", "simulate_set", "simulate_session", "default_workout",
    "EXERCISE_VARIANTS", "SQUAT_VARIANTS", "WALK_VARIANTS", "REST_ACTIVITIES", "TEMPOS",
]
