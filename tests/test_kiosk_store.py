"""The kiosk's SQLite history of sessions (weekly progress charts)."""
from datetime import datetime, timezone

import pytest

from kotdevice.device import history as device_history
from kotdevice.errors import KotError
from kotdevice.kiosk import fakedev
from kotdevice.kiosk.store import HistoryStore, week_start


def utc(y, m, d, h=12, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=timezone.utc).timestamp()


def noon(y, m, d):
    return utc(y, m, d)  # UTC noon: clear of the (UTC) week boundaries


def session(device, sid, when, sets, ktw=(), athlete="Ann"):
    msg = fakedev.session_msg(device, sid, sets, athlete=athlete, knee_to_wall=ktw, ended_at=when)
    msg["_device_id"], msg["_history_key"] = device, athlete
    return msg


def test_sessions_survive_reopening_and_duplicates_are_ignored(tmp_path):
    db = tmp_path / "sub" / "kiosk.sqlite3"
    s = HistoryStore(db)
    m = session("d1", "s1", noon(2026, 11, 17), [("squat", 10, 30.0)])
    assert s.add_session(m) is True
    assert s.add_session(m) is False  # the retained message, seen again after a reconnect
    s.close()
    s2 = HistoryStore(db)
    h = s2.history("Ann", now_s=noon(2026, 11, 20))
    assert [x["total_reps"] for x in h["sessions"]] == [10]
    assert s2.athletes() == ["Ann"]


def test_weekly_progress_aggregates(tmp_path):
    s = HistoryStore(tmp_path / "h.db")
    # week 1: two sessions; week 2: one; another athlete must not leak in
    s.add_session(session("d1", "a", noon(2026, 11, 3), [("squat", 10, 28.0), ("tib_raise", 15, -12.0)],
                          ktw=[("left", 35.0), ("right", 33.0)]))
    s.add_session(session("d1", "b", noon(2026, 11, 5), [("squat", 12, 31.0)], ktw=[("left", 36.5)]))
    s.add_session(session("d2", "c", noon(2026, 11, 12), [("squat", 20, 34.0)], ktw=[("right", 37.0)]))
    s.add_session(session("d3", "x", noon(2026, 11, 12), [("squat", 99, 60.0)], athlete="Bo"))
    h = s.history("Ann", now_s=noon(2026, 11, 13))
    w1, w2 = h["weeks"]
    assert w1["week_start"] == week_start(noon(2026, 11, 3)) < w2["week_start"]
    assert (w1["sessions"], w1["volume_reps"], w1["volume_sets"]) == (2, 37, 3)
    assert w1["max_peak_deg"] == 31.0
    assert w1["knee_to_wall"] == {"left": 36.5, "right": 33.0}
    assert (w2["volume_reps"], w2["max_peak_deg"], w2["knee_to_wall"]) == (20, 34.0, {"right": 37.0})
    # sessions from two devices of the same athlete are one history
    assert [x["device"] for x in h["sessions"]] == ["d1", "d1", "d2"]


def test_history_window_drops_old_weeks(tmp_path):
    s = HistoryStore(tmp_path / "h.db")
    s.add_session(session("d1", "old", noon(2026, 1, 6), [("squat", 5, 20.0)]))
    s.add_session(session("d1", "new", noon(2026, 11, 10), [("squat", 6, 25.0)]))
    h = s.history("Ann", weeks=12, now_s=noon(2026, 11, 12))
    assert [w["volume_reps"] for w in h["weeks"]] == [6]


def test_week_starts_on_monday_midnight_utc():
    ws = datetime.fromtimestamp(week_start(noon(2026, 11, 22)), timezone.utc)  # a Sunday
    assert (ws.year, ws.month, ws.day, ws.hour, ws.minute, ws.weekday()) == (2026, 11, 16, 0, 0, 0)


@pytest.mark.parametrize("ts", [utc(2026, 11, 16, 0, 0), utc(2026, 11, 15, 23, 59), utc(2027, 1, 1),
                                utc(2026, 12, 28, 0, 30), noon(2026, 11, 22)])
def test_weeks_are_the_device_historys_iso_weeks(ts):
    """`kotdevice history` groups by the UTC ISO week of the session's start: so does the kiosk."""
    iso_monday = device_history.week_start(device_history._iso_week(ts))
    assert datetime.fromtimestamp(week_start(ts), timezone.utc).date() == iso_monday


def test_a_session_counts_in_the_week_it_started(tmp_path):
    s = HistoryStore(tmp_path / "h.db")
    # Sunday 23:50 UTC to Monday 00:10 UTC: the device's history puts it in the Sunday's week.
    s.add_session(session("d1", "late", utc(2026, 11, 16, 0, 10), [("squat", 5, 30.0)]))
    h = s.history("Ann", now_s=noon(2026, 11, 18))
    assert [w["week_start"] for w in h["weeks"]] == [utc(2026, 11, 9, 0, 0)]


def test_max_peak_counts_squat_type_sets_only(tmp_path):
    """A tibialis raise peaks below zero: it is not the week's depth (as in `kotdevice history`)."""
    s = HistoryStore(tmp_path / "h.db")
    # week 1: raises only; week 2: raises and squats, the raise listed after the squat
    s.add_session(session("d1", "r1", noon(2026, 11, 3), [("tib_raise", 15, -18.0), ("tib_raise", 15, -9.5)]))
    s.add_session(session("d1", "r2", noon(2026, 11, 5), [("tib_raise", 20, -11.0)]))
    s.add_session(session("d1", "m1", noon(2026, 11, 10), [("squat", 10, 29.0), ("tib_raise", 15, -12.0)]))
    s.add_session(session("d1", "m2", noon(2026, 11, 12), [("tib_raise", 15, -7.0), ("backward_walk", 40, 35.0)]))
    h = s.history("Ann", now_s=noon(2026, 11, 13))
    w1, w2 = h["weeks"]
    assert w1["max_peak_deg"] is None and (w1["sessions"], w1["volume_sets"], w1["volume_reps"]) == (2, 3, 50)
    assert w2["max_peak_deg"] == 29.0 and (w2["sessions"], w2["volume_sets"]) == (2, 4)
    assert [x["max_peak_deg"] for x in h["sessions"]] == [None, None, 29.0, None]


def test_unwritable_database_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KotError, match="cannot open the kiosk history database"):
        HistoryStore(blocker / "kiosk.sqlite3")
