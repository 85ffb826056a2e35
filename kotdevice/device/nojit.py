"""Run the engine's numba kernels as plain Python (``kotdevice run --no-jit``).

numba/llvmlite cost the device ~55 MB to import and ~55 MB more for the compiled kernels; the
engine's per-sample kernels run at 200 Hz in well under 1 % of a core as plain Python on a
desktop CPU (a few % on a Pi 4). This installs a stand-in ``numba`` module whose ``njit``
returns the function unchanged (what ``NUMBA_DISABLE_JIT=1`` does, without importing numba).
Must run before the engine is imported; only ``njit`` is provided (all the engine uses).
"""
from __future__ import annotations

import sys
import types


def njit(*args, **kwargs):
    if len(args) == 1 and callable(args[0]) and not kwargs:  # bare @njit
        return args[0]
    return lambda f: f  # @njit(cache=True, ...)


def install() -> bool:
    """True if the stand-in is in place; False if numba was already imported (too late)."""
    if "numba" in sys.modules:
        return getattr(sys.modules["numba"], "__kotdevice_stub__", False)
    mod = types.ModuleType("numba", "kotdevice stand-in: numba kernels run as plain Python")
    mod.njit = njit
    mod.jit = njit
    mod.prange = range
    mod.__kotdevice_stub__ = True
    sys.modules["numba"] = mod
    return True
