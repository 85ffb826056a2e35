"""Check MQTT payloads against the JSON Schemas the package ships (``kotdevice/schemas``).

The kiosk must not depend on the ``jsonschema`` package (it runs on a small Pi next to a TV),
but it must reject exactly what the contract rejects. This interprets the small subset of
JSON Schema those files use (type, const, enum, required, properties, items, minimum,
minLength, maxLength); the tests check it agrees with ``jsonschema`` on the real schema files,
so a schema change cannot silently drift away from the kiosk.
"""
from __future__ import annotations

import json
import math

from kotdevice import schemas

MAX_PAYLOAD_BYTES = 64 * 1024  # far above any real payload; bounds the work per message

_SUPPORTED = {"$schema", "$id", "title", "description", "type", "const", "enum", "required",
              "properties", "items", "minimum", "minLength", "maxLength", "additionalProperties"}


class PayloadError(ValueError):
    """A payload the kiosk refuses; the message says what was wrong, in one line."""


def _is_type(value, name: str) -> bool:
    # JSON's view of Python values: bool is not a number, 1.0 is an integer (as in jsonschema).
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise ValueError(f"unsupported JSON Schema type {name!r}")


def _json_eq(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def check(value, schema: dict, where: str = "payload") -> None:
    """Raise PayloadError naming the first place where ``value`` breaks ``schema``."""
    unknown = set(schema) - _SUPPORTED
    if unknown:
        raise ValueError(f"schema uses unsupported keywords: {sorted(unknown)}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            raise PayloadError(f"{where}: expected {'/'.join(types)}, got {type(value).__name__}")
    if "const" in schema and not _json_eq(value, schema["const"]):
        raise PayloadError(f"{where}: must be {schema['const']!r}")
    if "enum" in schema and not any(_json_eq(value, e) for e in schema["enum"]):
        raise PayloadError(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise PayloadError(f"{where}: {value} is below {schema['minimum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise PayloadError(f"{where}: too short")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise PayloadError(f"{where}: longer than {schema['maxLength']} characters")
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                raise PayloadError(f"{where}: missing {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], f"{where}[{i}]")


def _reject_constant(name: str):
    raise PayloadError(f"non-standard JSON number {name}")


def parse(kind: str, payload: bytes) -> dict:
    """Decode and validate one payload of ``kind`` (a schema name: status, live, rep, ...)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        # NaN/Infinity are not JSON and would poison charts and sums downstream.
        value = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise PayloadError(f"payload is not JSON ({e.msg} at char {e.pos})") from None
    except RecursionError:
        raise PayloadError("payload nests too deeply") from None
    if not isinstance(value, dict):
        raise PayloadError("payload is not a JSON object")
    check(value, schemas.load(kind))
    for key, v in value.items():
        if isinstance(v, float) and not math.isfinite(v):  # e.g. 1e999 decodes to inf
            raise PayloadError(f"payload.{key}: not a finite number")
    return value
