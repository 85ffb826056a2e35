"""``njit`` for the engine's per-sample kernels: numba's, or the plain function.

The kernels are ordinary Python that numba compiles. With ``KOTDEVICE_JIT=0`` in the
environment (set before the engine is imported) they run as plain Python and numba is never
imported: the device then needs ~100 MB less memory (numba + llvmlite + compiled code), and
200 Hz still costs only ~1-2 % of a core. Results are identical either way (tested).
"""
from __future__ import annotations

import os

JIT_ENABLED = os.environ.get("KOTDEVICE_JIT", "1").strip().lower() not in ("0", "false", "no", "off")

if JIT_ENABLED:
    from numba import njit
else:

    def njit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:  # bare @njit
            return args[0]
        return lambda f: f  # @njit(cache=True, ...)
