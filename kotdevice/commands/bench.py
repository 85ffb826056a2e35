"""``kotdevice bench NAME``: discovers the benchmark modules in ``kotdevice/bench``."""
from __future__ import annotations


def register(sub) -> None:
    import kotdevice.bench
    from kotdevice.cli import register_modules

    p = sub.add_parser("bench", help="benchmarks whose tables go in the README")
    bsub = p.add_subparsers(dest="bench", metavar="NAME")
    bsub.required = True
    register_modules(bsub, kotdevice.bench)
