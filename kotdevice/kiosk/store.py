"""The kiosk's memory of finished sessions: a small SQLite file, so the weekly progress charts
survive a restart of the kiosk. Only session summaries the kiosk has seen are kept (the
retained ``kot/<id>/session`` message arrives again on every reconnect; its id makes it a
no-op the second time).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kotdevice.device.history import SQUAT_LIKE
from kotdevice.errors import KotError

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    device_id   TEXT NOT NULL,
    msg_id      TEXT NOT NULL,
    history_key TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    ended_at    REAL NOT NULL,
    total_reps  INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    PRIMARY KEY (device_id, msg_id)
);
CREATE INDEX IF NOT EXISTS sessions_by_key ON sessions (history_key, ended_at);
"""


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "kotdevice" / "kiosk.sqlite3"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def week_start(ts: float) -> float:
    """Unix time of the Monday 00:00 UTC of the ISO week containing ``ts``: the same weeks as
    ``kotdevice history`` (kotdevice/device/history.py), so the kiosk and the device agree."""
    d = datetime.fromtimestamp(ts, timezone.utc)
    monday = (d - timedelta(days=d.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday.timestamp()


def _max_peak(payload: dict) -> float | None:
    """Deepest set of squat-type exercises (as ``kotdevice history``): a tibialis raise's peak
    is negative and another movement, so it must not pass for the week's best depth."""
    peaks = [s.get("max_peak_deg") for s in payload.get("sets", []) if s.get("exercise") in SQUAT_LIKE]
    peaks = [p for p in peaks if _number(p)]
    return max(peaks) if peaks else None


class HistoryStore:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # One connection shared by the MQTT thread and the HTTP threads, behind a lock.
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.executescript(SCHEMA)
            self._db.commit()
        except (OSError, sqlite3.Error) as e:
            raise KotError(f"cannot open the kiosk history database {self.path}: {e}") from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_session(self, msg: dict) -> bool:
        """Store one validated session message; False if that message was stored before."""
        row = (msg["_device_id"], msg["id"], msg["_history_key"], msg["session_id"],
               float(msg.get("ended_at", msg["ts"])), int(msg["total_reps"]),
               json.dumps({k: v for k, v in msg.items() if not k.startswith("_")}))
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO sessions (device_id, msg_id, history_key, session_id,"
                " ended_at, total_reps, payload) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            self._db.commit()
            return cur.rowcount == 1

    def athletes(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT history_key FROM sessions GROUP BY history_key ORDER BY MAX(ended_at) DESC"
            ).fetchall()
        return [r[0] for r in rows]

    def history(self, history_key: str, weeks: int = 12, now_s: float | None = None) -> dict:
        """Per-session points and per-week aggregates of the last ``weeks`` weeks."""
        now_s = time.time() if now_s is None else now_s
        since = week_start(now_s) - (weeks - 1) * 7 * 86400
        with self._lock:
            rows = self._db.execute(
                "SELECT device_id, ended_at, total_reps, payload FROM sessions"
                " WHERE history_key = ? AND ended_at >= ? ORDER BY ended_at", (history_key, since)
            ).fetchall()
        sessions, by_week = [], {}
        for device_id, ended_at, total_reps, payload in rows:
            p = json.loads(payload)
            # Weeks by the session's start, like the device's history (ended_at if no start).
            wk = week_start(p["started_at"] if _number(p.get("started_at")) else ended_at)
            if wk < since:
                continue
            ktw = {}
            for k in p.get("knee_to_wall", []):
                leg = str(k.get("leg"))
                ktw[leg] = max(ktw.get(leg, float("-inf")), k["angle_deg"])
            point = {"ended_at": ended_at, "device": device_id, "total_reps": total_reps,
                     "sets": len(p.get("sets", [])), "max_peak_deg": _max_peak(p),
                     "knee_to_wall": ktw, "leg": p.get("leg")}
            sessions.append(point)
            w = by_week.setdefault(wk, {
                "week_start": wk, "sessions": 0, "volume_reps": 0,
                "volume_sets": 0, "max_peak_deg": None, "knee_to_wall": {}})
            w["sessions"] += 1
            w["volume_reps"] += total_reps
            w["volume_sets"] += point["sets"]
            if point["max_peak_deg"] is not None:
                w["max_peak_deg"] = max(point["max_peak_deg"], w["max_peak_deg"] or float("-inf"))
            for leg, a in ktw.items():
                w["knee_to_wall"][leg] = max(a, w["knee_to_wall"].get(leg, float("-inf")))
        return {"athlete": history_key, "since": since, "sessions": sessions,
                "weeks": [by_week[k] for k in sorted(by_week)]}
