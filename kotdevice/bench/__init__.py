"""Benchmarks: ``kotdevice bench NAME``. One module each, with ``register(subparsers)``.

They print a Markdown table on stdout (for the README) and progress on stderr.
"""
