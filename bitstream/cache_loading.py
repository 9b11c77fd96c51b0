"""Loading compiled kernels from numba's cache without numba's lowering registries.

numba's ``Cache.load_overload`` starts with ``target_context.refresh()``, which imports some sixty
modules of lowering code (strings, typed dicts and lists, random generators, polynomials, jitclass,
datetimes...) and installs their registries: 0.3-0.4 s timed alone, about 0.1 s of a decoding
process here (where ``first_call`` keeps scipy.linalg out of it; a 2-frame 96x96 decode 0.61 ->
0.51 s, bench/SPEED.md). A kernel in the cache is machine code that needs none of them, only
numba's runtime (NRT: its allocator's symbols and functions) set up. ``install``
replaces numba's loader by one that sets up the runtime and loads, and nothing more. Where the
cache misses, or holds a stale kernel, numba compiles as before: its compiler refreshes the
context itself (``numba.core.compiler``), so a compile still finds every registry.

Installed only over the loader it was checked against (the names its code calls; numba 0.68):
where numba's loader is another, it stays as it is and only start-up is slower.
"""

from __future__ import annotations

#: The names numba's ``Cache.load_overload`` calls, in its checked form: refresh the context, then
#: ``_load_overload`` inside the guard against spurious I/O errors.
_CHECKED_NAMES = ("refresh", "_guard_against_spurious_io_errors", "_load_overload")

_installed = False


def install() -> bool:
    """Put the light loader in place of numba's (once); whether it is in place."""
    global _installed
    if _installed:
        return True
    from numba.core import caching
    from numba.core.runtime import rtsys

    checked = caching.Cache.load_overload
    if getattr(getattr(checked, "__code__", None), "co_names", None) != _CHECKED_NAMES:
        return False

    def load_overload(self, sig, target_context):
        """numba's ``Cache.load_overload`` less the registries: the runtime, then the load."""
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload.__wrapped__ = checked  # type: ignore[attr-defined]
    caching.Cache.load_overload = load_overload
    _installed = True
    return True
