"""JSON Schemas of the MQTT payloads (CONTRACTS §4). ``load(name)`` returns one as a dict."""
from __future__ import annotations

import json
from functools import cache
from importlib import resources

NAMES = ("status", "live", "rep", "set", "session", "cmd", "cmd_reply")


@cache
def load(name: str) -> dict:
    if name not in NAMES:
        raise KeyError(f"no schema {name!r}; known: {', '.join(NAMES)}")
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text())
