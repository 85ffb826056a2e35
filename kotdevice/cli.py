"""The ``kotdevice`` command. Each sub-command lives in ``kotdevice/commands/<name>.py`` and
defines ``register(subparsers)``; this module only discovers and dispatches them, so adding a
command never touches this file. Command modules import heavy dependencies inside ``run``
so that ``kotdevice --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from kotdevice import __version__
from kotdevice.errors import KotError


def register_modules(sub, pkg) -> None:
    """Call ``register(sub)`` of every public module of package ``pkg`` (commands, benches)."""
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}").register(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kotdevice", description="Knees-over-toes training wearable: shin IMU, reps, MQTT."
    )
    parser.add_argument("--version", action="version", version=f"kotdevice {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    import kotdevice.commands

    register_modules(sub, kotdevice.commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except KotError as e:
        print(f"kotdevice: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return int(rc or 0)
