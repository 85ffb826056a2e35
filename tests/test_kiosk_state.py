"""The kiosk's message model and payload validation (pure, no broker)."""
import json
import math

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kotdevice import schemas
from kotdevice.kiosk import fakedev, state
from kotdevice.kiosk.state import KioskState
from kotdevice.kiosk.validate import PayloadError, parse

SID = "sess-1"


def b(msg) -> bytes:
    return json.dumps(msg).encode()


def samples():
    """One schema-valid payload of each kind, as the fake device makes them."""
    return {
        "status": fakedev.status_msg("d1", "online", "Ann", "left"),
        "live": fakedev.live_msg("d1", 12.5, "in_set", 3, t_s=4.0, session_id=SID, set_no=1),
        "rep": fakedev.rep_msg("d1", SID, 1, 1, 31.0, athlete="Ann", leg="left"),
        "set": fakedev.set_msg("d1", SID, 1, 3, [30.0, 31.0, 32.0]),
        "session": fakedev.session_msg("d1", SID, [("squat", 3, 32.0)], athlete="Ann", leg="left",
                                       knee_to_wall=[("left", 38.0)]),
    }


@pytest.mark.parametrize("kind", state.KINDS)
def test_fake_device_payloads_follow_the_shipped_schemas(kind):
    # The test publisher must not drift from the contract: check it with the reference validator.
    jsonschema.validate(samples()[kind], schemas.load(kind))
    assert parse(kind, b(samples()[kind]))["v"] == 1


_json = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-100, 100)
                     | st.text(max_size=5), lambda c: st.lists(c, max_size=3), max_leaves=5)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(state.KINDS), data=st.data())
def test_validator_agrees_with_jsonschema_on_mutated_payloads(kind, data):
    msg = samples()[kind]
    key = data.draw(st.sampled_from(sorted(msg)))
    action = data.draw(st.sampled_from(["drop", "replace"]))
    if action == "drop":
        del msg[key]
    else:
        msg[key] = data.draw(_json)
    try:
        jsonschema.validate(msg, schemas.load(kind))
        ref_ok = True
    except jsonschema.ValidationError:
        ref_ok = False
    try:
        parse(kind, b(msg))
        ours_ok = True
    except PayloadError:
        ours_ok = False
    assert ours_ok == ref_ok, (kind, key, msg.get(key, "<dropped>"))


@pytest.mark.parametrize("payload, why", [
    (b"not json", "not JSON"),
    (b"[1,2]", "not a JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"v":1,"ts":NaN,"device_id":"d1","state":"online"}', "non-standard"),
    (b'{"v":1,"ts":1e999,"device_id":"d1","state":"online"}', "finite"),
    (b'{"v":2,"ts":1,"device_id":"d1","state":"online"}', "must be 1"),
    (b'{"v":1,"ts":1,"device_id":"d1","state":"sleeping"}', "not one of"),
    (b'{"v":1,"ts":"yesterday","device_id":"d1","state":"online"}', "expected number"),
    (b'{"v":1,"ts":1,"device_id":"d1"}', "missing 'state'"),
    (b"{" * 5000 + b"}" * 5000, "not JSON"),
    (b'{"v":1,"pad":"' + b"x" * 70000 + b'"}', "exceeds"),
])
def test_garbage_is_refused_with_a_reason(payload, why):
    with pytest.raises(PayloadError, match=why):
        parse("status", payload)


def test_garbage_messages_are_counted_and_change_nothing():
    k = KioskState()
    k.apply("kot/d1/status", b(samples()["status"]), 1.0)
    before = k.devices["d1"].tile()
    for topic, payload in [("kot/d1/status", b"garbage"), ("kot/d1/rep", b"{}"),
                           ("kot/d1/live", b'{"v":1}'), ("kot/d1/unknown", b(samples()["status"])),
                           ("other/d1/status", b(samples()["status"])),
                           ("kot/" + "x" * 65 + "/status", b(samples()["status"]))]:
        out = k.apply(topic, payload, 2.0)
        assert out.events == []
    assert k.rejected == 6
    assert k.devices["d1"].tile() == before
    assert "x" * 65 not in k.devices and len(k.devices) == 1


def test_tile_appears_with_first_message_of_any_kind():
    k = KioskState()
    out = k.apply("kot/d9/live", b(fakedev.live_msg("d9", 5.0, "idle", 0)), 1.0)
    assert [name for name, _ in out.events] == ["tile"]
    assert out.events[0][1]["id"] == "d9" and out.events[0][1]["angle_deg"] == 5.0
    # further live angles are small "live" updates, not whole tiles
    out = k.apply("kot/d9/live", b(fakedev.live_msg("d9", 6.0, "idle", 0)), 1.1)
    assert [name for name, _ in out.events] == ["live"]


def test_duplicate_reps_sets_and_sessions_never_count_twice():
    k = KioskState()
    for rep_no in (1, 2, 3):
        m = b(fakedev.rep_msg("d1", SID, 1, rep_no, 30.0))
        k.apply("kot/d1/rep", m, rep_no)
        dup = k.apply("kot/d1/rep", m, rep_no + 0.5)  # QoS 1 redelivery: same id
        assert dup.duplicate and dup.events == []
    d = k.devices["d1"]
    assert d.set_reps == 3 and d.session_reps == 3
    s = b(fakedev.set_msg("d1", SID, 1, 3, [30.0] * 3))
    k.apply("kot/d1/set", s, 5)
    assert k.apply("kot/d1/set", s, 6).duplicate
    sess = b(fakedev.session_msg("d1", SID, [("squat", 3, 30.0)]))
    first = k.apply("kot/d1/session", sess, 7)
    assert first.session is not None and first.session["_history_key"] == "d1"
    again = k.apply("kot/d1/session", sess, 8)  # retained message on every reconnect
    assert again.duplicate and again.session is None
    assert k.duplicates == 5
    assert d.set_reps == 3 and d.session_reps == 3 and len(d.session_sets) == 1


def test_rep_ids_are_per_device():
    k = KioskState()
    m = fakedev.rep_msg("a", SID, 1, 1, 30.0)
    k.apply("kot/a/rep", b(m), 1)
    m["device_id"] = "b"
    k.apply("kot/b/rep", b(m), 1)  # same id from another device is not a duplicate
    assert k.devices["a"].set_reps == 1 and k.devices["b"].set_reps == 1


def test_counter_follows_sets_and_session_adds_them_up():
    k = KioskState()
    for rep_no in (1, 2):
        k.apply("kot/d1/rep", b(fakedev.rep_msg("d1", SID, 1, rep_no, 30.0)), rep_no)
    k.apply("kot/d1/set", b(fakedev.set_msg("d1", SID, 1, 2, [30.0, 30.0])), 3)
    k.apply("kot/d1/live", b(fakedev.live_msg("d1", 10.0, "in_set", 0, session_id=SID, set_no=2)), 4)
    d = k.devices["d1"]
    assert d.set_reps == 0 and d.tile()["set_no"] == 2  # a new set starts from 0
    k.apply("kot/d1/rep", b(fakedev.rep_msg("d1", SID, 2, 1, 30.0)), 5)
    assert d.set_reps == 1 and d.session_reps == 3
    # a late redelivered rep of the finished set must not reset the running set
    k.apply("kot/d1/rep", b(fakedev.rep_msg("d1", SID, 1, 9, 30.0)), 6)
    assert d.tile()["set_no"] == 2 and d.set_reps == 1
    # a new session starts its totals from zero
    k.apply("kot/d1/rep", b(fakedev.rep_msg("d1", "sess-2", 1, 1, 30.0)), 7)
    assert d.session_reps == 1 and d.session_id == "sess-2"


def test_kiosk_joining_mid_session_uses_set_totals_and_live_counter():
    k = KioskState()
    k.apply("kot/d1/set", b(fakedev.set_msg("d1", SID, 1, 10, [30.0])), 1)
    k.apply("kot/d1/live", b(fakedev.live_msg("d1", 20.0, "in_set", 4, session_id=SID, set_no=2)), 2)
    d = k.devices["d1"]
    assert d.set_reps == 4 and d.session_reps == 14


def test_offline_greys_and_online_resumes():
    k = KioskState()
    k.apply("kot/d1/status", b(fakedev.status_msg("d1", "online")), 1)
    k.apply("kot/d1/status", b(fakedev.status_msg("d1", "offline")), 2)
    d = k.devices["d1"]
    assert d.state == "offline" and d.offline_since_s == 2
    assert k.visible(2 + 100, hide_offline_after_s=60) == []
    assert k.visible(2 + 30, hide_offline_after_s=60) == [d]
    k.apply("kot/d1/status", b(fakedev.status_msg("d1", "online")), 200)
    assert d.state == "online" and d.offline_since_s is None
    # a live angle after a stale retained 'offline' also means the device is back
    k.apply("kot/d1/status", b(fakedev.status_msg("d1", "offline")), 300)
    out = k.apply("kot/d1/live", b(fakedev.live_msg("d1", 3.0, "idle", 0)), 301)
    assert d.state == "online" and out.events[0][0] == "tile"


def test_device_strings_are_clipped_not_interpreted():
    k = KioskState()
    evil = "<img src=x onerror=alert(1)>" + "A" * 100
    k.apply("kot/d1/status", b(fakedev.status_msg("d1", "online", athlete=evil)), 1)
    t = k.devices["d1"].tile()
    assert t["athlete"] == evil[:state.MAX_TEXT]  # kept verbatim (the page shows it as text)


def test_last_set_trace_picks_the_most_recent_set():
    k = KioskState()
    t = 0.0
    for set_no, depth in ((1, 20.0), (2, 40.0)):
        for i in range(30):
            t += 0.1
            ang = depth * math.sin(math.pi * i / 29)
            k.apply("kot/d1/live", b(fakedev.live_msg("d1", ang, "in_set", 0, t_s=t, session_id=SID,
                                                      set_no=set_no)), t)
        for _ in range(5):
            t += 0.1
            k.apply("kot/d1/live", b(fakedev.live_msg("d1", 1.0, "idle", 0, t_s=t, session_id=SID,
                                                      set_no=set_no)), t)
    tr = k.devices["d1"].last_set_trace()
    assert tr["set_no"] == 2 and len(tr["points"]) == 30
    assert tr["points"][0][0] == 0.0 and max(p[1] for p in tr["points"]) == pytest.approx(40.0, abs=0.5)


def test_device_count_is_bounded(monkeypatch):
    monkeypatch.setattr(state, "MAX_DEVICES", 3)
    k = KioskState()
    for i in range(5):
        k.apply(f"kot/d{i}/status", b(fakedev.status_msg(f"d{i}", "online")), 1)
    assert len(k.devices) == 3 and k.rejected == 2


def test_custom_prefix_with_levels():
    k = KioskState("gym/floor1")
    assert ("gym/floor1/+/live", 0) in k.subscriptions()
    k.apply("gym/floor1/d1/status", b(fakedev.status_msg("d1", "online")), 1)
    k.apply("kot/d2/status", b(fakedev.status_msg("d2", "online")), 1)
    assert list(k.devices) == ["d1"]


def test_optional_live_fields_from_the_device_runtime():
    k = KioskState()
    m = fakedev.live_msg("d1", 20.0, "in_set", 2, session_id=SID, set_no=3)
    m.update(session_reps=27, depth_target_deg=35.0)
    k.apply("kot/d1/live", b(m), 1)
    t = k.devices["d1"].tile()
    assert t["session_reps"] == 27 and t["depth_target_deg"] == 35.0 and t["reps"] == 2
    # The live schema types these fields: a message with wrong types is rejected whole,
    # so nothing in it is trusted and the tile keeps its last good values.
    m.update(session_reps="lots", depth_target_deg=True, angle_deg=-5.0)
    before = k.rejected
    k.apply("kot/d1/live", b(m), 2)
    t = k.devices["d1"].tile()
    assert k.rejected == before + 1
    assert t["session_reps"] == 27 and t["depth_target_deg"] == 35.0 and t["angle_deg"] == 20.0
    m.update(session_reps=30, depth_target_deg=None, angle_deg=-5.0)
    k.apply("kot/d1/live", b(m), 3)
    t = k.devices["d1"].tile()
    assert t["session_reps"] == 30 and t["depth_target_deg"] is None
