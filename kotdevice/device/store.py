"""SQLite on the device: the source of truth for sessions, sets, reps, and the MQTT outbox.

Durability: WAL journal with ``synchronous=FULL``. In WAL mode NORMAL is safe against a
process crash but may lose the last commits on a power cut (the WAL is not fsynced per
commit), and a power cut mid-set must lose at most the rep in progress. FULL costs one fsync
per commit; reps arrive every ~2 s, so that is negligible. Live angles are never stored.

Every rep/set/session row is written in the same transaction as its outbox message, so
"committed" and "queued for the broker" cannot disagree. The outbox row is deleted when the
broker acknowledges it (PUBACK).

Rows keep ``(boot_id, mono_s)``; their wall time is ``mono_s + boots.offset_s`` (see clock.py).
Sessions are ordered by ``seq``, never by wall time.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from kotdevice.errors import KotError

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS boots (
    boot_id TEXT PRIMARY KEY,
    offset_s REAL NOT NULL,          -- wall - monotonic, re-measured when the clock is synced
    synced INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- the order of sessions (wall time may jump)
    id TEXT UNIQUE,
    device_id TEXT NOT NULL,
    athlete TEXT, leg TEXT,
    boot_id TEXT NOT NULL, run_id TEXT NOT NULL,
    start_mono REAL NOT NULL, end_mono REAL,
    start_t_s REAL NOT NULL, end_t_s REAL,  -- sample clock of the run
    started_by TEXT, ended_by TEXT,
    status TEXT NOT NULL DEFAULT 'open',    -- open | closed
    published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sets (
    id TEXT PRIMARY KEY,
    session_seq INTEGER NOT NULL REFERENCES sessions(seq),
    set_no INTEGER NOT NULL,
    engine_set_index INTEGER,
    exercise TEXT NOT NULL, variant TEXT,
    start_t_s REAL, end_t_s REAL,
    start_mono REAL, end_mono REAL,
    status TEXT NOT NULL DEFAULT 'open',
    reps INTEGER NOT NULL DEFAULT 0, partial_reps INTEGER NOT NULL DEFAULT 0,
    mean_peak_deg REAL, max_peak_deg REAL, tempo_cv REAL,
    UNIQUE (session_seq, set_no)
);
CREATE TABLE IF NOT EXISTS reps (
    id TEXT PRIMARY KEY,
    session_seq INTEGER NOT NULL REFERENCES sessions(seq),
    set_id TEXT NOT NULL,
    set_no INTEGER NOT NULL, rep_no INTEGER NOT NULL,
    exercise TEXT NOT NULL, variant TEXT,
    start_s REAL, end_s REAL, peak_angle_deg REAL, rom_deg REAL,
    eccentric_s REAL, pause_s REAL, concentric_s REAL, tut_s REAL,
    peak_frontal_deg REAL, partial INTEGER, detected_s REAL,
    boot_id TEXT, mono_s REAL,
    UNIQUE (session_seq, set_no, rep_no)
);
CREATE TABLE IF NOT EXISTS knee_to_wall (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_seq INTEGER REFERENCES sessions(seq),
    leg TEXT, angle_deg REAL, hold_s REAL, t_s REAL,
    boot_id TEXT, mono_s REAL
);
CREATE TABLE IF NOT EXISTS gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_seq INTEGER REFERENCES sessions(seq),
    start_s REAL, duration_s REAL, samples_lost INTEGER, reason TEXT,
    boot_id TEXT, mono_s REAL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- drained in this order
    msg_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reps_by_session ON reps (session_seq, set_no, rep_no);
CREATE INDEX IF NOT EXISTS sets_by_session ON sets (session_seq, set_no);
"""


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    msg_id: str
    topic: str
    payload: str
    qos: int
    retain: bool


class Store:
    """One connection, guarded by a lock. On the device only the sampling loop uses it (paho's
    thread never touches SQLite, see mqtt.py); the lock keeps multi-statement work atomic."""

    def __init__(self, path: str | os.PathLike, *, synchronous: str = "FULL"):
        self.path = str(path)
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise KotError(f"store.path: cannot create {Path(self.path).parent}: {e.strerror}") from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={synchronous}")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.executescript(_DDL)
            self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as e:
            raise KotError(f"store.path: {self.path}: cannot open the database: {e}") from None
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # --- transactions ----------------------------------------------------------------------
    def tx(self):
        return _Tx(self)

    def query(self, sql: str, args=()) -> list[sqlite3.Row]:
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    def one(self, sql: str, args=()) -> sqlite3.Row | None:
        with self.lock:
            return self.db.execute(sql, args).fetchone()

    # --- meta / boots ----------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        r = self.one("SELECT value FROM meta WHERE key=?", (key,))
        return r["value"] if r else default

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                      (key, value))

    def anchor_boot(self, boot_id: str, offset_s: float, synced: bool) -> None:
        """Record (or correct) this boot's wall-minus-monotonic offset. A synced offset is
        never replaced by an unsynced one (a restart before sync must not undo a correction)."""
        with self.tx() as c:
            row = c.execute("SELECT synced FROM boots WHERE boot_id=?", (boot_id,)).fetchone()
            if row is None:
                c.execute("INSERT INTO boots(boot_id, offset_s, synced) VALUES (?, ?, ?)",
                          (boot_id, offset_s, int(synced)))
            elif synced or not row["synced"]:
                c.execute("UPDATE boots SET offset_s=?, synced=? WHERE boot_id=?",
                          (offset_s, int(synced or row["synced"]), boot_id))

    # --- outbox ----------------------------------------------------------------------------
    @staticmethod
    def enqueue(c: sqlite3.Connection, msg_id: str, topic: str, payload: dict, qos: int = 1,
                retain: bool = False) -> int:
        cur = c.execute("INSERT INTO outbox(msg_id, topic, payload, qos, retain) VALUES (?, ?, ?, ?, ?)",
                        (msg_id, topic, json.dumps(payload, separators=(",", ":")), qos, int(retain)))
        return int(cur.lastrowid)

    def outbox_pending(self, after: int = 0, limit: int = 200) -> list[OutboxRow]:
        """Outbox rows with ``seq > after`` (not yet handed to the broker), oldest first."""
        rows = self.query("SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [OutboxRow(r["seq"], r["msg_id"], r["topic"], r["payload"], r["qos"], bool(r["retain"]))
                for r in rows]

    def outbox_ack(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self.tx() as c:
            c.executemany("DELETE FROM outbox WHERE seq=?", [(s,) for s in seqs])

    def outbox_count(self) -> int:
        return int(self.one("SELECT COUNT(*) AS n FROM outbox")["n"])


class _Tx:
    """``with store.tx() as c:`` = BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error), under the lock."""

    def __init__(self, store: Store):
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store.lock.acquire()
        try:
            self.store.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.store.lock.release()
            raise
        return self.store.db

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store.lock.release()
