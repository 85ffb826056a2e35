"""Short simulated workouts shared by the runtime's integration tests."""

# 3 s standing, 8 squats, 10 s rest, 8 tibialis raises, rest: ~70 s of simulated time.
SHORT_SESSION = {"leg": "right", "items": [
    {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 3.0}]},
    {"kind": "set", "exercise": "squat", "variant": "bodyweight", "reps": 8, "tempo": "quick"},
    {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 10}]},
    {"kind": "set", "exercise": "tib_raise", "reps": 8, "tempo": "normal"},
    {"kind": "rest", "activities": [{"kind": "stand", "duration_s": 10}]},
]}
