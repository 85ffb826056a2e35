import json

import pytest

from kotdevice.cli import main
from kotdevice.device.clock import DeviceClock
from kotdevice.device.session import SessionManager, Topics
from kotdevice.device.store import Store
from kotdevice.motion.events import KneeToWallEvent, RepEvent

WEEK = 7 * 86400.0
T0 = 1_763_337_600.0  # Monday 2025-11-17 00:00 UTC


def rep(set_index, i, peak, exercise="squat", rom=None):
    return RepEvent(exercise=exercise, variant=None, set_index=set_index, rep_index=i, start_s=10.0 + 3 * i,
                    end_s=12.0 + 3 * i, peak_angle_deg=peak, rom_deg=rom if rom is not None else abs(peak) - 5,
                    eccentric_s=1, pause_s=0, concentric_s=1, tut_s=2, peak_frontal_deg=2, partial=False,
                    detected_s=12.2 + 3 * i)


def record(store, wall0, leg, squat_peaks, tib_peaks=(), ktw=None, boot="b1", synced=True):
    """One session recorded with the wall clock reading ``wall0``."""
    clock = DeviceClock(wall=lambda: wall0, mono=lambda: 50.0, boot_id=f"{boot}-{wall0}", synced_probe=None)
    clock.synced = synced
    sm = SessionManager(store, clock, Topics("kot", "d"), "d", leg=leg)
    for i, p in enumerate(squat_peaks):
        sm.on_rep(rep(0, i + 1, p))
    for i, p in enumerate(tib_peaks):
        sm.on_rep(rep(1, i + 1, p, exercise="tib_raise", rom=12.0))
    if ktw is not None:
        sm.on_knee_to_wall(KneeToWallEvent(t_s=40.0, leg=leg, angle_deg=ktw, hold_s=2.0))
    sm.stop(60.0, "command")


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "h.db"
    store = Store(path)
    record(store, T0 + 3600, "left", [30, 34, 32], tib_peaks=[-10, -12], ktw=35.0)
    record(store, T0 + 86400, "right", [28, 29])
    record(store, T0 + WEEK + 3600, "left", [36, 38], ktw=38.5)
    # recorded before time sync with a clock that was a year behind: listed by seq anyway
    record(store, T0 - 365 * 86400, "left", [20], synced=False)
    store.close()
    return path


def test_history_json_weekly_progress(db, capsys):
    assert main(["history", "--store", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["seq"] for s in out["sessions"]] == [1, 2, 3, 4]
    assert [s["total_reps"] for s in out["sessions"]] == [5, 2, 2, 1]
    assert out["sessions"][3]["clock_synced"] is False
    weeks = {w["week"]: w for w in out["weekly"]}
    w1, w2 = weeks["2025-W47"], weeks["2025-W48"]
    assert w1["sessions"] == 2
    assert w1["legs"]["left"] == {"max_tibial_angle_deg": 34.0, "knee_to_wall_deg": 35.0}
    assert w1["legs"]["right"] == {"max_tibial_angle_deg": 29.0}
    assert w1["exercises"]["squat"] == {"sets": 2, "reps": 5, "mean_peak_deg": pytest.approx(30.6),
                                        "mean_rom_deg": pytest.approx(25.6)}
    assert w1["exercises"]["tib_raise"]["reps"] == 2 and w1["exercises"]["tib_raise"]["mean_peak_deg"] == -11
    assert w2["legs"]["left"] == {"max_tibial_angle_deg": 38.0, "knee_to_wall_deg": 38.5}  # progress
    assert len(out["weekly"]) == 3  # plus the unsynced session's (wrong) week


def test_history_text_and_plot(db, tmp_path, capsys):
    png = tmp_path / "progress.png"
    assert main(["history", "--store", str(db), "--plot", str(png), "--last", "3"]) == 0
    text = capsys.readouterr().out
    assert "Sessions (4, last 3)" in text
    assert "knee-to-wall left 38.5°" in text and "leg left     max tibial angle 38.0°, knee-to-wall 38.5°" in text
    assert "~ recorded before the clock was synced" in text
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_history_missing_store_is_one_line_error(tmp_path, capsys):
    assert main(["history", "--store", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert "no session store here" in err and err.count("\n") == 1


def test_history_rows_are_built_from_the_session_messages(db):
    from kotdevice.device.history import sessions

    store = Store(db)
    try:
        msgs = {p["seq"]: p for p in (json.loads(r.payload) for r in store.outbox_pending(limit=1000)
                                      if r.topic.endswith("/session"))}
        rows = sessions(store)
    finally:
        store.close()
    assert [r["seq"] for r in rows] == sorted(msgs)
    for row in rows:
        m = msgs[row["seq"]]
        for k in ("session_id", "athlete", "leg", "started_at", "duration_s", "total_reps", "knee_to_wall"):
            assert row[k] == m[k], k
        assert row["sets"] == [{k: v for k, v in st.items() if k != "set_id"} for st in m["sets"]]
