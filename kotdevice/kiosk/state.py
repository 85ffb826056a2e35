"""The kiosk's picture of every device, built from MQTT messages (pure: no I/O, no threads).

``KioskState.apply(topic, payload, now_s)`` validates one message against the shipped schema,
folds it into the device's tile and returns the updates to push to the pages. Duplicates (a
rep, set or session id seen before, e.g. a QoS 1 redelivery or a device replaying its outbox)
change nothing. Garbage is counted and refused with a reason, never raised to the caller.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from kotdevice.kiosk.validate import PayloadError, parse

KINDS = ("status", "live", "rep", "set", "session")
TRACE_SAMPLES = 6000      # 5 min at the fastest live rate (20 Hz): more than any set lasts
SEEN_IDS_PER_DEVICE = 4096  # ids remembered for de-duplication (a long session's reps)
MAX_DEVICES = 500         # a flood of invented device ids must not exhaust the Pi's memory
MAX_TEXT = 64             # device-supplied labels are clipped; the page shows them as text


def _text(v) -> str | None:
    return None if v is None else str(v)[:MAX_TEXT]


def _num(v):
    return None if v is None else round(float(v), 3)


class _SeenIds:
    """A bounded set of recent message ids (oldest forgotten first)."""

    def __init__(self, cap: int = SEEN_IDS_PER_DEVICE):
        self.cap = cap
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, msg_id: str) -> bool:
        """True if new; False if already seen."""
        if msg_id in self._ids:
            return False
        self._ids[msg_id] = None
        if len(self._ids) > self.cap:
            self._ids.popitem(last=False)
        return True


@dataclass
class Device:
    device_id: str
    state: str = "unknown"            # online / offline / unknown (no status seen yet)
    athlete: str | None = None
    leg: str | None = None
    version: str | None = None
    exercise: str | None = None
    activity: str | None = None
    angle_deg: float | None = None
    frontal_deg: float | None = None
    live_ts: float | None = None
    session_id: str | None = None
    set_key: tuple | None = None       # (session_id, set_no) of the set the counter shows
    set_rep_ids: set = field(default_factory=set)
    live_reps: int = 0                 # the device's own counter for set_key, from live
    session_rep_ids: set = field(default_factory=set)
    session_sets: dict = field(default_factory=dict)   # set_no -> reps of finished sets
    live_session_reps: int = 0         # the device's own session total, from live (optional field)
    depth_target_deg: float | None = None
    last_rep: dict | None = None
    last_set: dict | None = None
    last_session: dict | None = None
    seen_at_s: float = 0.0
    offline_since_s: float | None = None
    seen: _SeenIds = field(default_factory=_SeenIds)
    trace: deque = field(default_factory=lambda: deque(maxlen=TRACE_SAMPLES))

    @property
    def set_reps(self) -> int:
        finished = self.session_sets.get(self.set_key[1]) if self.set_key else None
        return max(len(self.set_rep_ids), self.live_reps, finished or 0)

    @property
    def session_reps(self) -> int:
        # Reps counted one by one, or (if the kiosk joined mid-session) the finished sets'
        # totals plus the set in progress, whichever knows more.
        by_sets = sum(self.session_sets.values())
        if self.set_key and self.set_key[0] == self.session_id and self.set_key[1] not in self.session_sets:
            by_sets += self.set_reps
        return max(len(self.session_rep_ids), by_sets, self.live_session_reps)

    @property
    def history_key(self) -> str:
        return self.athlete or self.device_id

    def tile(self) -> dict:
        return {
            "id": self.device_id, "state": self.state, "athlete": self.athlete, "leg": self.leg,
            "history_key": self.history_key, "version": self.version,
            "exercise": self.exercise, "activity": self.activity,
            "angle_deg": self.angle_deg, "frontal_deg": self.frontal_deg, "live_ts": self.live_ts,
            "depth_target_deg": self.depth_target_deg,
            "session_id": self.session_id, "set_no": self.set_key[1] if self.set_key else None,
            "reps": self.set_reps, "session_reps": self.session_reps,
            "session_sets": len(self.session_sets),
            "last_rep": self.last_rep, "last_set": self.last_set, "last_session": self.last_session,
            "seen_at": self.seen_at_s, "offline_since": self.offline_since_s,
        }

    def live_update(self) -> dict:
        return {"id": self.device_id, "angle_deg": self.angle_deg, "activity": self.activity,
                "exercise": self.exercise, "reps": self.set_reps, "ts": self.live_ts,
                "session_reps": self.session_reps, "depth_target_deg": self.depth_target_deg,
                "set_no": self.set_key[1] if self.set_key else None}

    def last_set_trace(self) -> dict:
        """The live angles of the most recent set (or, without any set, the last 30 s)."""
        samples = list(self.trace)
        idx = next((i for i in range(len(samples) - 1, -1, -1) if samples[i][3] == "in_set"), None)
        if idx is None:
            if not samples:
                return {"device": self.device_id, "set_no": None, "points": []}
            t_end = samples[-1][0]
            pts = [s for s in samples if s[0] >= t_end - 30.0]
            return {"device": self.device_id, "set_no": None, "in_set": False,
                    "points": [[round(s[0] - pts[0][0], 3), s[1]] for s in pts]}
        key = samples[idx][2]
        start = idx
        if key[1] is not None:  # the set is known by number: take all its samples
            picked = [s for s in samples if s[2] == key and s[3] == "in_set"]
        else:                   # otherwise the last unbroken run of in_set samples
            while start > 0 and samples[start - 1][3] == "in_set":
                start -= 1
            picked = samples[start:idx + 1]
        t0 = picked[0][0]
        return {"device": self.device_id, "set_no": key[1], "in_set": True,
                "points": [[round(s[0] - t0, 3), s[1]] for s in picked]}


@dataclass
class Applied:
    """What one message changed: events for the pages, and a finished session to store."""
    events: list = field(default_factory=list)    # (event name, JSON-able data)
    session: dict | None = None                    # a new session message, to persist
    duplicate: bool = False


class KioskState:
    def __init__(self, prefix: str = "kot"):
        self.prefix = prefix.strip("/")
        self.devices: dict[str, Device] = {}
        self.rejected = 0
        self.duplicates = 0
        self.accepted = 0
        self.last_error: str | None = None

    # -- topics ------------------------------------------------------------------------
    def subscriptions(self) -> list[tuple[str, int]]:
        return [(f"{self.prefix}/+/{k}", 0 if k == "live" else 1) for k in KINDS]

    def _split(self, topic: str) -> tuple[str, str]:
        parts = topic.split("/")
        pre = self.prefix.split("/")
        if len(parts) != len(pre) + 2 or parts[:len(pre)] != pre or parts[-1] not in KINDS:
            raise PayloadError(f"unexpected topic {topic[:120]!r}")
        device_id = parts[-2]
        if not device_id or len(device_id) > 64:
            raise PayloadError("device id in topic is empty or longer than 64 characters")
        return device_id, parts[-1]

    # -- messages ----------------------------------------------------------------------
    def apply(self, topic: str, payload: bytes, now_s: float) -> Applied:
        try:
            device_id, kind = self._split(topic)
            msg = parse(kind, payload)
            if device_id not in self.devices and len(self.devices) >= MAX_DEVICES:
                raise PayloadError(f"more than {MAX_DEVICES} devices; ignoring {device_id!r}")
        except PayloadError as e:
            self.rejected += 1
            self.last_error = f"{topic[:120]}: {e}"
            return Applied()
        dev = self.devices.get(device_id)
        created = dev is None
        if created:
            dev = self.devices[device_id] = Device(device_id)
        dev.seen_at_s = now_s
        out = getattr(self, f"_on_{kind}")(dev, msg, now_s)
        if out.duplicate:
            self.duplicates += 1
        else:
            self.accepted += 1
        if created and not any(name == "tile" for name, _ in out.events):
            out.events.insert(0, ("tile", dev.tile()))
        return out

    def _who(self, dev: Device, msg: dict) -> None:
        if msg.get("athlete") is not None:
            dev.athlete = _text(msg["athlete"])
        if msg.get("leg") is not None:
            dev.leg = _text(msg["leg"])

    def _begin_session(self, dev: Device, session_id: str | None) -> None:
        if session_id and session_id != dev.session_id:
            dev.session_id = session_id
            dev.session_rep_ids = set()
            dev.session_sets = {}
            dev.live_session_reps = 0

    def _begin_set(self, dev: Device, key: tuple) -> None:
        if key != dev.set_key:
            dev.set_key = key
            dev.set_rep_ids = set()
            dev.live_reps = 0

    @staticmethod
    def _current_or_newer(dev: Device, key: tuple) -> bool:
        if dev.set_key is None:
            return True
        if key[0] != dev.set_key[0]:
            return key[0] == dev.session_id
        return dev.set_key[1] is None or key[1] >= dev.set_key[1]

    def _on_status(self, dev: Device, msg: dict, now_s: float) -> Applied:
        state = msg["state"]
        if state == "offline" and dev.state != "offline":
            dev.offline_since_s = now_s
        elif state == "online":
            dev.offline_since_s = None
        dev.state = state
        self._who(dev, msg)
        if msg.get("version") is not None:
            dev.version = _text(msg["version"])
        return Applied(events=[("tile", dev.tile())])

    def _on_live(self, dev: Device, msg: dict, now_s: float) -> Applied:
        dev.angle_deg = _num(msg["angle_deg"])
        dev.frontal_deg = _num(msg.get("frontal_deg"))
        dev.activity = msg["activity"]
        if msg.get("exercise") is not None:
            dev.exercise = msg["exercise"]
        dev.live_ts = msg["ts"]
        if dev.state != "online":
            # A device that talks is online, whatever an old retained status said.
            dev.state, dev.offline_since_s = "online", None
            structural = True
        else:
            structural = False
        self._begin_session(dev, msg.get("session_id"))
        set_no = msg.get("set_no")
        if msg["activity"] == "in_set" and set_no is not None:
            key = (msg.get("session_id") or dev.session_id, set_no)
            if key != dev.set_key:
                structural = True
            self._begin_set(dev, key)
        if dev.set_key and set_no == dev.set_key[1]:
            dev.live_reps = max(dev.live_reps, msg["reps"])
        # Optional fields the device runtime adds beyond the schema's required ones.
        sr = msg.get("session_reps")
        if isinstance(sr, int) and not isinstance(sr, bool) and 0 <= sr < 1_000_000 and msg.get("session_id"):
            dev.live_session_reps = max(dev.live_session_reps, sr)
        dt = msg.get("depth_target_deg")
        dev.depth_target_deg = _num(dt) if isinstance(dt, (int, float)) and not isinstance(dt, bool) and abs(dt) < 180 else None
        t = msg.get("t_s", msg["ts"])
        dev.trace.append((t, dev.angle_deg, (msg.get("session_id"), set_no), msg["activity"]))
        return Applied(events=[("tile", dev.tile())] if structural else [("live", dev.live_update())])

    def _on_rep(self, dev: Device, msg: dict, now_s: float) -> Applied:
        if not dev.seen.add("rep:" + msg["id"]):
            return Applied(duplicate=True)
        self._who(dev, msg)
        self._begin_session(dev, msg["session_id"])
        key = (msg["session_id"], msg["set_no"])
        if self._current_or_newer(dev, key):  # a late rep of an older set must not reset
            self._begin_set(dev, key)
            dev.set_rep_ids.add(msg["id"])
        if msg["session_id"] == dev.session_id:
            dev.session_rep_ids.add(msg["id"])
        dev.exercise = msg["exercise"]
        dev.last_rep = {k: msg.get(k) for k in (
            "rep_no", "set_no", "peak_angle_deg", "rom_deg", "eccentric_s", "pause_s",
            "concentric_s", "tut_s", "peak_frontal_deg", "partial", "ts")}
        dev.last_rep["variant"] = _text(msg.get("variant"))
        return Applied(events=[("tile", dev.tile())])

    def _on_set(self, dev: Device, msg: dict, now_s: float) -> Applied:
        if not dev.seen.add("set:" + msg["id"]):
            return Applied(duplicate=True)
        self._who(dev, msg)
        self._begin_session(dev, msg["session_id"])
        if msg["session_id"] == dev.session_id:
            dev.session_sets[msg["set_no"]] = msg["reps"]
        dev.last_set = {k: msg.get(k) for k in (
            "set_no", "exercise", "reps", "partial_reps", "mean_peak_deg", "max_peak_deg",
            "tempo_cv", "ts")}
        dev.last_set["variant"] = _text(msg.get("variant"))
        if "start_s" in msg and "end_s" in msg:
            dev.last_set["duration_s"] = round(msg["end_s"] - msg["start_s"], 2)
        if dev.set_key is None:
            self._begin_set(dev, (msg["session_id"], msg["set_no"]))
        return Applied(events=[("tile", dev.tile())])

    def _on_session(self, dev: Device, msg: dict, now_s: float) -> Applied:
        if not dev.seen.add("session:" + msg["id"]):
            return Applied(duplicate=True)
        self._who(dev, msg)
        dev.last_session = {
            "session_id": msg["session_id"], "total_reps": msg["total_reps"],
            "sets": len(msg["sets"]), "duration_s": msg.get("duration_s"),
            "ended_at": msg.get("ended_at", msg["ts"]),
            "knee_to_wall": [{"leg": _text(k["leg"]), "angle_deg": k["angle_deg"]}
                             for k in msg.get("knee_to_wall", [])],
        }
        stored = dict(msg)
        stored["_history_key"] = dev.history_key
        stored["_device_id"] = dev.device_id
        return Applied(events=[("tile", dev.tile())], session=stored)

    # -- views -------------------------------------------------------------------------
    def snapshot(self, now_s: float, hide_offline_after_s: float | None = None) -> dict:
        return {"devices": [d.tile() for d in self.visible(now_s, hide_offline_after_s)],
                "stats": self.stats()}

    def visible(self, now_s: float, hide_offline_after_s: float | None) -> list[Device]:
        out = []
        for d in self.devices.values():
            if (hide_offline_after_s is not None and d.state == "offline"
                    and d.offline_since_s is not None
                    and now_s - d.offline_since_s > hide_offline_after_s):
                continue
            out.append(d)
        return out

    def stats(self) -> dict:
        return {"devices": len(self.devices), "accepted": self.accepted,
                "rejected": self.rejected, "duplicates": self.duplicates,
                "last_error": self.last_error}

    def devices_of(self, history_key: str) -> list[Device]:
        return [d for d in self.devices.values() if d.history_key == history_key]
