import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kotdevice import schemas
from kotdevice.device.commands import COMMANDS, MAX_PAYLOAD_BYTES, CommandHandler
from kotdevice.errors import KotError


class Recorder:
    def __init__(self):
        self.calls = []
        self.fail_with = None

    def _do(self, name, *args):
        self.calls.append((name, *args))
        if self.fail_with:
            raise self.fail_with
        return {"did": name}

    def cmd_start(self):
        return self._do("start")

    def cmd_stop(self):
        return self._do("stop")

    def cmd_exercise(self, ex):
        return self._do("exercise", ex)

    def cmd_depth_target(self, d):
        return self._do("depth_target", d)

    def cmd_calibrate(self):
        return self._do("calibrate")

    def cmd_ping(self):
        return self._do("ping")

    def cmd_mode(self, m):
        return self._do("mode", m)

    def cmd_metronome(self, bpm):
        return self._do("metronome", bpm)


REPLY = schemas.load("cmd_reply")


def handle(payload, rec=None):
    rec = rec or Recorder()
    h = CommandHandler("dev1", rec, wall=lambda: 1700000000.0)
    if not isinstance(payload, (bytes, str)):
        payload = json.dumps(payload)
    r = h.handle(payload)
    jsonschema.validate(r, REPLY)
    return r, rec


@pytest.mark.parametrize("msg, call", [
    ({"id": "a", "cmd": "start"}, ("start",)),
    ({"id": "a", "cmd": "stop"}, ("stop",)),
    ({"id": "a", "cmd": "ping", "v": 1}, ("ping",)),
    ({"id": "a", "cmd": "calibrate"}, ("calibrate",)),
    ({"id": "a", "cmd": "exercise", "exercise": "tib_raise"}, ("exercise", "tib_raise")),
    ({"id": "a", "cmd": "exercise", "exercise": None}, ("exercise", None)),
    ({"id": "a", "cmd": "depth_target", "depth_deg": 32}, ("depth_target", 32.0)),
    ({"id": "a", "cmd": "depth_target", "depth_deg": None}, ("depth_target", None)),
    # the range is the engine's to refuse (test_runtime_unit), not checked twice
    ({"id": "a", "cmd": "depth_target", "depth_deg": 500}, ("depth_target", 500.0)),
    ({"id": "a", "cmd": "mode", "mode": "knee_to_wall"}, ("mode", "knee_to_wall")),
    ({"id": "a", "cmd": "metronome", "bpm": 30}, ("metronome", 30.0)),
])
def test_valid_commands_dispatch_and_reply_ok(msg, call):
    jsonschema.validate(msg, schemas.load("cmd"))
    r, rec = handle(msg)
    assert r["ok"] is True and r["id"] == "a" and r["result"] == {"did": call[0]}
    assert rec.calls == [call]


@pytest.mark.parametrize("payload, req_id, error", [
    (b"{not json", None, "malformed JSON"),
    (b"\xff\xfe", None, "not UTF-8"),
    (b"[1,2]", None, "expected a JSON object"),
    (json.dumps({"cmd": "start"}), None, "missing 'id'"),
    (json.dumps({"id": 5, "cmd": "start"}), None, "'id' must be a string"),
    (json.dumps({"id": "x" * 65, "cmd": "start"}), None, "'id' must be a string"),
    (json.dumps({"id": "r1", "cmd": "fly"}), "r1", 'unknown command "fly"'),
    (json.dumps({"id": "r1", "cmd": 3}), "r1", "'cmd' must be one of"),
    (json.dumps({"id": "r1", "cmd": "exercise", "exercise": "curl"}), "r1", "'exercise' must be one of"),
    (json.dumps({"id": "r1", "cmd": "exercise"}), "r1", "needs an 'exercise' key"),
    (json.dumps({"id": "r1", "cmd": "depth_target", "depth_deg": "deep"}), "r1", "'depth_deg' must be a number"),
    (json.dumps({"id": "r1", "cmd": "depth_target", "depth_deg": True}), "r1", "'depth_deg' must be a number"),
    (json.dumps({"id": "r1", "cmd": "mode", "mode": "x"}), "r1", "'mode' must be one of"),
    (json.dumps({"id": "r1", "cmd": "start", "v": 2}), "r1", "unsupported 'v'"),
    (json.dumps({"id": "r1", "cmd": "start", "pad": "x" * MAX_PAYLOAD_BYTES}), None, "payload too large"),
])
def test_bad_commands_get_an_error_reply_and_do_nothing(payload, req_id, error):
    r, rec = handle(payload)
    assert r["ok"] is False and r["id"] == req_id
    assert error in r["error"] and "\n" not in r["error"]
    assert rec.calls == []


@pytest.mark.parametrize("exc, text", [(KotError("engine refused: x"), "engine refused: x"),
                                       (RuntimeError("boom"), "internal error: RuntimeError: boom")])
def test_failing_action_becomes_an_error_reply(exc, text):
    rec = Recorder()
    rec.fail_with = exc
    r, _ = handle({"id": "q", "cmd": "start"}, rec)
    assert r == {**r, "ok": False, "id": "q", "error": text}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=12)
command_like = st.fixed_dictionaries(
    {}, optional={"id": st.one_of(st.text(max_size=70), json_values), "cmd": st.one_of(st.sampled_from(COMMANDS), json_values),
                  "exercise": json_values, "depth_deg": json_values, "mode": json_values, "bpm": json_values,
                  "v": json_values})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), command_like.map(lambda d: json.dumps(d).encode()),
                 json_values.map(lambda v: json.dumps(v).encode())))
def test_fuzzed_payloads_always_get_a_valid_reply(payload):
    r, rec = handle(payload)
    assert isinstance(r["ok"], bool)
    assert r["ok"] == bool(rec.calls)  # an action ran exactly when the reply says ok
    if not r["ok"]:
        assert r["error"] and "\n" not in r["error"]
