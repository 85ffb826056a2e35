import dataclasses
import json
import statistics

import jsonschema
import pytest

from kotdevice import schemas
from kotdevice.device.clock import DeviceClock
from kotdevice.device.session import SessionManager, Topics
from kotdevice.device.store import Store
from kotdevice.motion.events import KneeToWallEvent, RepEvent, SetEvent


class FakeTime:
    """Injected monotonic and wall clocks; ``jump()`` moves only the wall clock."""

    def __init__(self, wall0=1_000_000.0):
        self.mono_s = 100.0
        self.wall_offset = wall0 - self.mono_s

    def mono(self):
        return self.mono_s

    def wall(self):
        return self.mono_s + self.wall_offset

    def advance(self, dt):
        self.mono_s += dt

    def jump(self, dt):
        self.wall_offset += dt


def rep(set_index, rep_index, start, peak=30.0, exercise="squat", partial=False):
    return RepEvent(exercise=exercise, variant=None, set_index=set_index, rep_index=rep_index, start_s=start,
                    end_s=start + 2.0, peak_angle_deg=peak, rom_deg=peak - 2, eccentric_s=0.9, pause_s=0.1,
                    concentric_s=1.0, tut_s=2.0, peak_frontal_deg=3.0, partial=partial, detected_s=start + 2.2)


def set_ev(set_index, reps):
    peaks = [r.peak_angle_deg for r in reps]
    return SetEvent(exercise=reps[0].exercise, variant=None, set_index=set_index, start_s=reps[0].start_s,
                    end_s=reps[-1].end_s, reps=tuple(reps), mean_peak_deg=sum(peaks) / len(peaks),
                    max_peak_deg=max(peaks), tempo_cv=0.05)


@pytest.fixture
def ft():
    return FakeTime()


def make(store, ft, run_id=None, idle=300.0):
    clock = DeviceClock(wall=ft.wall, mono=ft.mono, boot_id="boot-1", synced_probe=None)
    return SessionManager(store, clock, Topics("kot", "dev1"), "dev1", athlete="Ann", leg="left",
                          idle_timeout_s=idle, run_id=run_id)


def outbox(store):
    return [(r.topic, json.loads(r.payload)) for r in store.outbox_pending(limit=10_000)]


def validate_all(msgs):
    names = {"rep": "rep", "set": "set", "session": "session"}
    for topic, p in msgs:
        jsonschema.validate(p, schemas.load(names[topic.rsplit("/", 1)[1]]))


def test_first_rep_starts_session_and_every_message_is_stored_and_valid(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft)
    reps1 = [rep(0, i + 1, 10 + 2.5 * i, peak=30 + i) for i in range(3)]
    for r in reps1:
        ft.advance(2.5)
        sm.on_rep(r)
    assert sm.open is not None
    sm.on_set(set_ev(0, reps1))
    reps2 = [rep(1, i + 1, 40 + 2.5 * i, exercise="tib_raise", peak=-15) for i in range(2)]
    for r in reps2:
        sm.on_rep(r)
    sm.on_set(set_ev(1, reps2))
    sm.stop(50.0, "command")
    msgs = outbox(store)
    validate_all(msgs)
    topics = [t.rsplit("/", 1)[1] for t, _ in msgs]
    assert topics == ["rep"] * 3 + ["set"] + ["rep"] * 2 + ["set", "session"]
    sid = msgs[0][1]["session_id"]
    assert [p["id"] for _, p in msgs[:3]] == [f"{sid}-s1-r1", f"{sid}-s1-r2", f"{sid}-s1-r3"]
    assert msgs[3][1]["rep_ids"] == [p["id"] for _, p in msgs[:3]]
    assert msgs[3][1]["reps"] == 3 and msgs[3][1]["max_peak_deg"] == 32  # the SetEvent's own metrics, forwarded
    summary = msgs[-1][1]
    assert summary["total_reps"] == 5 and [s["reps"] for s in summary["sets"]] == [3, 2]
    assert summary["duration_s"] == pytest.approx(50.0 - 10.0)  # sample clock: first rep start -> stop
    assert summary["started_by"] == "rep" and summary["ended_by"] == "command"
    # the DB agrees with what was queued
    assert store.one("SELECT COUNT(*) n FROM reps")["n"] == 5
    assert store.one("SELECT status FROM sessions")["status"] == "closed"


def test_idle_timeout_closes_session_at_last_activity(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft, idle=60)
    sm.start(5.0, "button")
    ft.advance(7.2)
    sm.on_rep(rep(0, 1, 10.0))
    ft.advance(50)
    assert sm.tick(60.0) == []  # 60 - 12.2 < 60
    ft.advance(12)
    out = sm.tick(72.3)
    assert out and sm.open is None
    summary = outbox(store)[-1][1]
    assert summary["ended_by"] == "idle"
    assert summary["duration_s"] == pytest.approx(12.2 - 5.0)
    assert summary["ended_at"] - summary["started_at"] == pytest.approx(7.2)  # not the idle wait
    # the open set was closed from stored reps
    assert outbox(store)[-2][1]["reps"] == 1


def test_set_event_without_reps_in_this_session_is_ignored(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft)
    sm.start(0.0, "command")
    assert sm.on_set(set_ev(7, [rep(7, 1, 1.0)])) == []


def test_crash_recovery_closes_and_publishes_the_open_session(tmp_path, ft):
    path = tmp_path / "d.db"
    store = Store(path)
    sm = make(store, ft, run_id="run-a")
    # a tib-raise set (negative peaks) with uneven tempo; the engine never closed it
    peaks, durs = [-10.0, -14.0, -12.0, -11.0], [2.0, 2.5, 1.5, 2.0]
    for i in range(4):
        ft.advance(2.5)
        start = 3.0 + 2.5 * i
        sm.on_rep(dataclasses.replace(rep(0, i + 1, start, peak=peaks[i], exercise="tib_raise"),
                                      end_s=start + durs[i]))
    # "power cut": the process is gone, nothing was closed or acknowledged
    store.close()
    store2 = Store(path)
    sm2 = make(store2, ft, run_id="run-b")
    assert sm2.open is None
    seqs = sm2.recover()
    assert len(seqs) == 2  # the open set + the session
    msgs = outbox(store2)
    validate_all(msgs)
    kinds = [t.rsplit("/", 1)[1] for t, _ in msgs]
    assert kinds == ["rep"] * 4 + ["set", "session"]
    summary = msgs[-1][1]
    assert summary["recovered"] is True and summary["total_reps"] == 4
    assert summary["duration_s"] == pytest.approx(3.0 + 2.5 * 3 + 2.0 - 3.0)  # to the last rep's end
    # the set's metrics computed from the stored reps
    st = msgs[-2][1]
    assert st["mean_peak_deg"] == pytest.approx(-11.75)
    assert st["max_peak_deg"] == -14.0  # the largest by magnitude, not max()
    cv = statistics.pstdev(durs) / statistics.fmean(durs)  # 0.1768
    assert st["tempo_cv"] == pytest.approx(cv, abs=1e-4) and st["end_s"] == pytest.approx(12.5)
    assert summary["sets"][0]["max_peak_deg"] == -14.0 and summary["sets"][0]["mean_peak_deg"] == -11.75
    assert sm2.recover() == []  # once only


def test_wall_clock_jump_keeps_durations_and_order(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft)
    wall_start = ft.wall()
    sm.start(0.0, "command")
    ft.advance(30)
    sm.on_rep(rep(0, 1, 20.0))
    ft.jump(365 * 86400.0)  # time sync arrives mid-session
    assert sm.clock.check()
    sm.reanchor()
    ft.advance(30)
    sm.on_rep(rep(0, 2, 50.0))
    sm.stop(60.0, "command")
    first = outbox(store)[-1][1]
    assert first["duration_s"] == pytest.approx(60.0)
    assert first["ended_at"] - first["started_at"] == pytest.approx(60.0)
    assert first["started_at"] == pytest.approx(wall_start + 365 * 86400.0)  # corrected, not the pre-sync time
    # a later session is ordered after it even though wall times moved
    ft.advance(10)
    sm.start(70.0, "command")
    ft.advance(10)
    sm.stop(80.0, "command")
    second = outbox(store)[-1][1]
    assert second["seq"] > first["seq"]
    assert second["started_at"] > first["ended_at"]


def test_knee_to_wall_is_in_the_summary(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft)
    sm.on_knee_to_wall(KneeToWallEvent(t_s=4.0, leg="left", angle_deg=38.5, hold_s=2.0))
    sm.stop(10.0, "command")
    summary = outbox(store)[-1][1]
    validate_all([("kot/dev1/session", summary)])
    assert summary["knee_to_wall"] == [{"leg": "left", "angle_deg": 38.5, "hold_s": 2.0}]
    assert summary["started_by"] == "knee_to_wall"


def test_outbox_ack_removes_in_order(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft)
    seqs = [s for i in range(3) for s in sm.on_rep(rep(0, i + 1, float(i * 3)))]
    assert [r.seq for r in store.outbox_pending()] == seqs
    store.outbox_ack([seqs[1]])
    assert [r.seq for r in store.outbox_pending()] == [seqs[0], seqs[2]]
    assert [r.seq for r in store.outbox_pending(after=seqs[0])] == [seqs[2]]  # not yet handed over


def test_set_event_final_partial_flags_replace_the_provisional_ones(tmp_path, ft):
    store = Store(tmp_path / "d.db")
    sm = make(store, ft)
    live = [rep(0, i + 1, 10.0 + 3 * i, partial=(i == 0)) for i in range(3)]  # provisional: first partial
    for r in live:
        sm.on_rep(r)
    final = [rep(0, 1, 10.0), rep(0, 2, 13.0), rep(0, 3, 16.0, partial=True)]  # final: last one partial
    sm.on_set(set_ev(0, final))
    msg = outbox(store)[-1][1]
    assert msg["partial_reps"] == 1
    assert [r["partial"] for r in store.query("SELECT partial FROM reps ORDER BY rep_no")] == [0, 0, 1]
