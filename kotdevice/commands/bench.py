"""``kotdevice bench NAME``: discovers the benchmark modules in ``kotdevice/bench``."""
from __future__ import annotations

import importlib
import pkgutil


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks whose tables go in the README")
    bsub = p.add_subparsers(dest="bench", metavar="NAME")
    bsub.required = True
    import kotdevice.bench as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"kotdevice.bench.{info.name}").register(bsub)
