"""Sessions -> sets -> reps: turns engine events and start/stop requests into stored rows and
outbox messages (CONTRACTS §4 payloads). No network and no GPIO here: the runtime forwards
what this returns (outbox sequence numbers) to the MQTT link.

Ids are stable and derived from stored rows, so a message replayed from the outbox or
redelivered by QoS 1 carries the same id:
session ``<device>-<seq>-<token>``, set ``<session>-s<set_no>``, rep ``<set>-r<rep_no>``.

Times: ``*_t_s`` are sample-clock seconds of the current run (durations come from them);
``*_mono`` + the boot's offset give wall times (see clock.py); ``seq`` orders sessions.
"""
from __future__ import annotations

import secrets
import statistics
import uuid
from dataclasses import dataclass, field

from kotdevice import __version__
from kotdevice.device.clock import DeviceClock
from kotdevice.device.store import Store
from kotdevice.motion.events import KneeToWallEvent, RepEvent, SetEvent

V = 1  # payload schema version


class Topics:
    def __init__(self, prefix: str, device_id: str):
        base = f"{prefix}/{device_id}"
        self.status = f"{base}/status"
        self.live = f"{base}/live"
        self.rep = f"{base}/rep"
        self.set = f"{base}/set"
        self.session = f"{base}/session"
        self.cmd = f"{base}/cmd"
        self.cmd_reply = f"{base}/cmd/reply"


@dataclass
class OpenSession:
    seq: int
    id: str
    start_t_s: float
    start_mono: float
    last_activity_t_s: float
    last_activity_mono: float
    set_map: dict[int, tuple[int, str]] = field(default_factory=dict)  # engine set index -> (set_no, set_id)
    rep_counts: dict[int, int] = field(default_factory=dict)  # set_no -> reps stored
    next_set_no: int = 1


def _r(x, nd=3):
    return None if x is None else round(float(x), nd)


class SessionManager:
    def __init__(self, store: Store, clock: DeviceClock, topics: Topics, device_id: str, *,
                 athlete: str = "", leg: str = "unknown", idle_timeout_s: float = 300.0,
                 run_id: str | None = None):
        self.store = store
        self.clock = clock
        self.topics = topics
        self.device_id = device_id
        self.athlete = athlete or None
        self.leg = leg
        self.leg_configured = leg in ("left", "right")
        self.idle_timeout_s = idle_timeout_s
        self.run_id = run_id or uuid.uuid4().hex
        self.open: OpenSession | None = None
        self.store.anchor_boot(clock.boot_id, clock.offset_s, clock.synced)

    # --- helpers ---------------------------------------------------------------------------
    def _base(self) -> dict:
        return {"v": V, "ts": round(self.clock.now_wall(), 3), "device_id": self.device_id}

    @property
    def session_id(self) -> str | None:
        return self.open.id if self.open else None

    def current_set_no(self) -> int | None:
        if not self.open:
            return None
        return max((no for no, _ in self.open.set_map.values()), default=None)

    def set_detected_leg(self, leg: str) -> bool:
        """The engine worked out which leg wears the sensor; used when the config says
        ``unknown`` (for this and later sessions). True if the leg changed."""
        if leg in ("left", "right") and self.leg != leg and self.leg_configured is False:
            self.leg = leg
            if self.open:
                with self.store.tx() as c:
                    c.execute("UPDATE sessions SET leg=? WHERE seq=?", (leg, self.open.seq))
            return True
        return False

    def reanchor(self) -> None:
        """The wall clock jumped (synced): correct every stored time of this boot."""
        self.store.anchor_boot(self.clock.boot_id, self.clock.offset_s, True)

    # --- session lifecycle -----------------------------------------------------------------
    def start(self, t_s: float, by: str) -> str:
        """Open a session (no-op if one is open). Returns its id."""
        if self.open:
            return self.open.id
        mono = self.clock.mono()
        with self.store.tx() as c:
            cur = c.execute(
                "INSERT INTO sessions(device_id, athlete, leg, boot_id, run_id, start_mono, start_t_s, started_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.device_id, self.athlete, self.leg, self.clock.boot_id, self.run_id, mono, t_s, by))
            seq = int(cur.lastrowid)
            sid = f"{self.device_id}-{seq}-{secrets.token_hex(2)}"
            c.execute("UPDATE sessions SET id=? WHERE seq=?", (sid, seq))
        self.open = OpenSession(seq, sid, t_s, mono, t_s, mono)
        return sid

    def stop(self, t_s: float | None, by: str) -> list[int]:
        """Close the open session (and its open sets) and queue its summary. Returns outbox seqs."""
        if not self.open:
            return []
        s = self.open
        self.open = None
        if t_s is None:  # idle: the session ended at its last activity, on both clocks
            return self._close_session(s.seq, s.last_activity_t_s, s.last_activity_mono, by)
        return self._close_session(s.seq, max(t_s, s.start_t_s), self.clock.mono(), by)

    def tick(self, t_s: float) -> list[int]:
        """Idle timeout on the sample clock; the session ends at its last activity."""
        if self.open and t_s - self.open.last_activity_t_s >= self.idle_timeout_s:
            return self.stop(None, "idle")
        return []

    def recover(self) -> list[int]:
        """Close sessions left open by an earlier run (power cut, SIGKILL) at their last stored
        rep and queue their set and session messages. Their reps were committed (and queued)
        as they happened."""
        out: list[int] = []
        for row in self.store.query("SELECT seq FROM sessions WHERE status='open' AND run_id != ? ORDER BY seq",
                                    (self.run_id,)):
            out += self._close_session(row["seq"], None, None, "recovered")
        return out

    # --- events ----------------------------------------------------------------------------
    def on_rep(self, ev: RepEvent) -> list[int]:
        if not self.open:
            self.start(ev.start_s, "rep")
        s = self.open
        mono = self.clock.mono()
        with self.store.tx() as c:
            if ev.set_index not in s.set_map:
                set_no = s.next_set_no
                s.next_set_no += 1
                set_id = f"{s.id}-s{set_no}"
                c.execute("INSERT INTO sets(id, session_seq, set_no, engine_set_index, exercise, variant,"
                          " start_t_s, start_mono) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (set_id, s.seq, set_no, ev.set_index, ev.exercise, ev.variant, ev.start_s, mono))
                s.set_map[ev.set_index] = (set_no, set_id)
                s.rep_counts[set_no] = 0
            set_no, set_id = s.set_map[ev.set_index]
            rep_no = s.rep_counts[set_no] + 1
            rep_id = f"{set_id}-r{rep_no}"
            c.execute(
                "INSERT INTO reps(id, session_seq, set_id, set_no, rep_no, exercise, variant, start_s, end_s,"
                " peak_angle_deg, rom_deg, eccentric_s, pause_s, concentric_s, tut_s, peak_frontal_deg, partial,"
                " detected_s, boot_id, mono_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rep_id, s.seq, set_id, set_no, rep_no, ev.exercise, ev.variant, ev.start_s, ev.end_s,
                 ev.peak_angle_deg, ev.rom_deg, ev.eccentric_s, ev.pause_s, ev.concentric_s, ev.tut_s,
                 ev.peak_frontal_deg, int(ev.partial), ev.detected_s, self.clock.boot_id, mono))
            c.execute("UPDATE sets SET reps=reps+1, partial_reps=partial_reps+?, end_t_s=?, end_mono=? WHERE id=?",
                      (int(ev.partial), ev.end_s, mono, set_id))
            payload = {
                **self._base(), "id": rep_id, "session_id": s.id, "set_id": set_id, "set_no": set_no,
                "rep_no": rep_no, "exercise": ev.exercise, "variant": ev.variant,
                "start_s": _r(ev.start_s), "end_s": _r(ev.end_s), "peak_angle_deg": _r(ev.peak_angle_deg, 2),
                "rom_deg": _r(ev.rom_deg, 2), "eccentric_s": _r(ev.eccentric_s), "pause_s": _r(ev.pause_s),
                "concentric_s": _r(ev.concentric_s), "tut_s": _r(ev.tut_s),
                "peak_frontal_deg": _r(ev.peak_frontal_deg, 2), "partial": bool(ev.partial),
                "athlete": self.athlete, "leg": self.leg, "detected_s": _r(ev.detected_s),
            }
            out = [Store.enqueue(c, rep_id, self.topics.rep, payload, qos=1)]
        s.rep_counts[set_no] = rep_no
        s.last_activity_t_s = max(s.last_activity_t_s, ev.end_s, ev.detected_s)
        s.last_activity_mono = mono
        return out

    def on_set(self, ev: SetEvent) -> list[int]:
        s = self.open
        if not s or ev.set_index not in s.set_map:
            return []  # a set whose reps went to an earlier, already closed session
        set_no, set_id = s.set_map.pop(ev.set_index)
        s.last_activity_t_s = max(s.last_activity_t_s, ev.end_s)
        s.last_activity_mono = self.clock.mono()
        with self.store.tx() as c:
            # The live reps' `partial` was provisional; the set carries the final verdicts.
            c.executemany("UPDATE reps SET partial=? WHERE set_id=? AND abs(start_s - ?) < 1e-6 AND abs(end_s - ?) < 1e-6",
                          [(int(r.partial), set_id, r.start_s, r.end_s) for r in ev.reps])
            return [self._close_set(c, set_id, ev.end_s, self.clock.mono(),
                                    engine=(ev.mean_peak_deg, ev.max_peak_deg, ev.tempo_cv))]

    def on_knee_to_wall(self, ev: KneeToWallEvent) -> None:
        if not self.open:
            self.start(ev.t_s, "knee_to_wall")
        with self.store.tx() as c:
            c.execute("INSERT INTO knee_to_wall(session_seq, leg, angle_deg, hold_s, t_s, boot_id, mono_s)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (self.open.seq, ev.leg, ev.angle_deg, ev.hold_s, ev.t_s, self.clock.boot_id, self.clock.mono()))
        self.open.last_activity_t_s = max(self.open.last_activity_t_s, ev.t_s)
        self.open.last_activity_mono = self.clock.mono()

    def record_gap(self, gap) -> None:
        """A sensor gap (``samples.Gap`` or ``GapEvent``): stored with the open session, if any."""
        with self.store.tx() as c:
            c.execute("INSERT INTO gaps(session_seq, start_s, duration_s, samples_lost, reason, boot_id, mono_s)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (self.open.seq if self.open else None, gap.start_s, gap.duration_s, gap.samples_lost,
                       gap.reason, self.clock.boot_id, self.clock.mono()))

    # --- closing ---------------------------------------------------------------------------
    def _close_set(self, c, set_id: str, end_t_s: float | None, end_mono: float,
                   engine: tuple | None = None) -> int:
        st = c.execute("SELECT * FROM sets WHERE id=?", (set_id,)).fetchone()
        reps = c.execute("SELECT * FROM reps WHERE set_id=? ORDER BY rep_no", (set_id,)).fetchall()
        c.execute("UPDATE sets SET partial_reps=? WHERE id=?", (sum(1 for r in reps if r["partial"]), set_id))
        peaks = [r["peak_angle_deg"] for r in reps]
        durs = [r["end_s"] - r["start_s"] for r in reps]
        if engine and engine[0] is not None:
            mean_peak, max_peak, tempo_cv = engine
        else:  # computed from what was stored (engine never closed the set)
            mean_peak = statistics.fmean(peaks) if peaks else None
            max_peak = (max(peaks, key=abs) if peaks else None)
            tempo_cv = (statistics.pstdev(durs) / statistics.fmean(durs)
                        if len(durs) >= 2 and statistics.fmean(durs) > 0 else None)
        end_t_s = end_t_s if end_t_s is not None else (reps[-1]["end_s"] if reps else st["start_t_s"])
        c.execute("UPDATE sets SET status='closed', end_t_s=?, end_mono=?, mean_peak_deg=?, max_peak_deg=?,"
                  " tempo_cv=? WHERE id=?", (end_t_s, end_mono, mean_peak, max_peak, tempo_cv, set_id))
        sess = c.execute("SELECT id FROM sessions WHERE seq=?", (st["session_seq"],)).fetchone()
        payload = {
            **self._base(), "id": set_id, "set_id": set_id, "session_id": sess["id"], "set_no": st["set_no"],
            "exercise": st["exercise"], "variant": st["variant"], "reps": len(reps),
            "partial_reps": sum(1 for r in reps if r["partial"]),
            "start_s": _r(st["start_t_s"]), "end_s": _r(end_t_s),
            "mean_peak_deg": _r(mean_peak, 2), "max_peak_deg": _r(max_peak, 2), "tempo_cv": _r(tempo_cv, 4),
            "rep_ids": [r["id"] for r in reps], "athlete": self.athlete, "leg": self.leg,
        }
        return Store.enqueue(c, set_id, self.topics.set, payload, qos=1)

    def _close_session(self, seq: int, end_t_s: float | None, end_mono: float | None, by: str) -> list[int]:
        """``end_t_s``/``end_mono`` None: the session ended at its last stored rep."""
        out: list[int] = []
        with self.store.tx() as c:
            if end_t_s is None or end_mono is None:
                end_t_s, end_mono = _last_rep_end(c, seq)
            for st in c.execute("SELECT id FROM sets WHERE session_seq=? AND status='open' ORDER BY set_no",
                                (seq,)).fetchall():
                out.append(self._close_set(c, st["id"], None, end_mono))
            c.execute("UPDATE sessions SET status='closed', end_t_s=?, end_mono=?, ended_by=? WHERE seq=?",
                      (end_t_s, end_mono, by, seq))
            payload = session_summary(c, seq)
            payload.update(self._base())
            out.append(Store.enqueue(c, payload["session_id"], self.topics.session, payload, qos=1, retain=True))
            c.execute("UPDATE sessions SET published=1 WHERE seq=?", (seq,))
        return out


def _last_rep_end(c, seq: int) -> tuple[float, float]:
    """(sample time, monotonic time) at which a session that was never closed ended: its
    last stored rep, else its start."""
    s = c.execute("SELECT start_t_s, start_mono FROM sessions WHERE seq=?", (seq,)).fetchone()
    last = c.execute("SELECT MAX(end_s) AS t, MAX(mono_s) AS m FROM reps WHERE session_seq=?", (seq,)).fetchone()
    end_t_s = max(s["start_t_s"], last["t"]) if last["t"] is not None else s["start_t_s"]
    end_mono = last["m"] if last["m"] is not None else s["start_mono"]
    return end_t_s, end_mono


def session_summary(c, seq: int) -> dict:
    """The session message body (``kot/<id>/session``), from the rows on connection ``c``
    (call it under the store's lock). ``history.sessions()`` builds its rows from it too.
    A session still open (or interrupted) is summarised up to its last stored rep."""
    s = c.execute("SELECT sessions.*, boots.offset_s FROM sessions LEFT JOIN boots USING (boot_id) WHERE seq=?",
                  (seq,)).fetchone()
    sets = c.execute("SELECT * FROM sets WHERE session_seq=? ORDER BY set_no", (seq,)).fetchall()
    ktw = c.execute("SELECT leg, angle_deg, hold_s, t_s FROM knee_to_wall WHERE session_seq=? ORDER BY id",
                    (seq,)).fetchall()
    gaps = c.execute("SELECT start_s, duration_s, samples_lost, reason FROM gaps WHERE session_seq=? ORDER BY id",
                     (seq,)).fetchall()
    off = s["offset_s"] if s["offset_s"] is not None else 0.0
    if s["end_t_s"] is not None:
        end_t, end_mono = s["end_t_s"], s["end_mono"]
    else:
        end_t, end_mono = _last_rep_end(c, seq)
    return {
        "v": V, "id": s["id"], "session_id": s["id"], "seq": s["seq"], "device_id": s["device_id"],
        "athlete": s["athlete"], "leg": s["leg"], "started_by": s["started_by"], "ended_by": s["ended_by"],
        "started_at": _r(s["start_mono"] + off), "ended_at": _r(end_mono + off),
        "duration_s": _r(end_t - s["start_t_s"]),
        "total_reps": sum(st["reps"] for st in sets),
        "sets": [{"set_id": st["id"], "set_no": st["set_no"], "exercise": st["exercise"],
                  "variant": st["variant"], "reps": st["reps"], "partial_reps": st["partial_reps"],
                  "max_peak_deg": _r(st["max_peak_deg"], 2), "mean_peak_deg": _r(st["mean_peak_deg"], 2)}
                 for st in sets],
        "knee_to_wall": [{"leg": k["leg"], "angle_deg": _r(k["angle_deg"], 2), "hold_s": _r(k["hold_s"])}
                         for k in ktw],
        "gaps": [{"start_s": _r(g["start_s"]), "duration_s": _r(g["duration_s"]),
                  "samples_lost": g["samples_lost"], "reason": g["reason"]} for g in gaps],
        "recovered": s["ended_by"] == "recovered",
        "version": __version__,
    }
