"""Loading compiled kernels from numba's cache without numba's lowering registries, and without
parsing their bitcode.

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

A cached kernel's library is its machine code (an object file) and the bitcode other libraries
link against. numba parses that bitcode at every load (about 2 ms a kernel) to list the symbols the
library defines; a decoder links nothing against its kernels, and the object file's own symbol
table names the same symbols that code can look up (``defined_names``). ``install`` also puts a
loader of libraries in place that takes the names from the object file and parses the bitcode
only when another library links this one (``_LightLibrary``): the 17 kernels of a 2-frame 96x96
decode load in 39 ms instead of 71-85, the process takes 0.92x the time (bench/SPEED.md). Where
the object is not a 64-bit little-endian ELF file (macOS, Windows), numba's loader runs.
"""

from __future__ import annotations

import numpy as np

#: The names numba's ``Cache.load_overload`` calls, in its checked form: refresh the context, then
#: ``_load_overload`` inside the guard against spurious I/O errors.
_CHECKED_NAMES = ("refresh", "_guard_against_spurious_io_errors", "_load_overload")

#: The names numba's ``CPUCodeLibrary._unserialize`` uses, in its checked form (numba 0.68): a new
#: library; for object code, its bitcode parsed, the module finalized, the symbols loaded.
_CHECKED_UNSERIALIZE = (
    "create_library",
    "isinstance",
    "ll",
    "parse_bitcode",
    "_final_module",
    "_finalize_final_module",
    "enable_object_caching",
    "_set_compiled_object",
    "_shared_module",
    "_codegen",
    "_engine",
    "_load_defined_symbols",
    "ValueError",
)

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
    _install_light_libraries()
    _installed = True
    return True


def _install_light_libraries() -> bool:
    """Put a loader of JIT libraries that takes their symbols from the object file (``defined_names``)
    and leaves the bitcode for later (``_LightLibrary``) in place of numba's, where that loader
    is the checked one; whether it is in place."""
    from numba.core import codegen

    checked = codegen.JITCodeLibrary.__dict__.get("_unserialize") or codegen.CPUCodeLibrary.__dict__.get(
        "_unserialize"
    )
    func = getattr(checked, "__func__", None)
    if getattr(getattr(func, "__code__", None), "co_names", None) != _CHECKED_UNSERIALIZE:
        return False
    light = _light_library_class(codegen.JITCodeLibrary)

    def unserialize(cls, codegen_, state):
        """numba's ``_unserialize`` for a JIT library's object code, less the bitcode's parse."""
        name, kind, data = state
        names = defined_names(data[0]) if kind == "object" and cls is codegen.JITCodeLibrary else None
        if names is None:
            return func(cls, codegen_, state)
        library = light(codegen_, name)
        library.enable_object_caching()
        library._set_compiled_object(data[0])
        library._bitcode = data[1]
        library._finalize_final_module()
        codegen_._engine._defined_symbols |= names
        return library

    unserialize.__wrapped__ = func  # type: ignore[attr-defined]
    codegen.JITCodeLibrary._unserialize = classmethod(unserialize)
    return True


def _light_library_class(base: type) -> type:
    """A JIT library loaded from object code, whose bitcode is parsed when another library first
    links against it (numba's ``_get_module_for_linking``), not when it loads."""

    class _LightLibrary(base):
        _bitcode: bytes | None = None

        def _get_module_for_linking(self):
            if self._shared_module is None and self._bitcode is not None:
                from llvmlite import binding

                self._shared_module = binding.parse_bitcode(self._bitcode)
                self._bitcode = None
            return super()._get_module_for_linking()

    return _LightLibrary


_SECTION = np.dtype(
    [
        ("name", "<u4"),
        ("type", "<u4"),
        ("flags", "<u8"),
        ("addr", "<u8"),
        ("offset", "<u8"),
        ("size", "<u8"),
        ("link", "<u4"),
        ("info", "<u4"),
        ("align", "<u8"),
        ("entsize", "<u8"),
    ]
)
_SYMBOL = np.dtype(
    [("name", "<u4"), ("info", "u1"), ("other", "u1"), ("section", "<u2"), ("value", "<u8"), ("size", "<u8")]
)
#: ELF's section type of a symbol table, and the bindings of symbols other objects can see.
_SYMTAB, _GLOBAL, _WEAK = 2, 1, 2


def defined_names(obj: bytes) -> set[str] | None:
    """The global and weak symbols a 64-bit little-endian ELF object file defines (not those it
    only refers to): the names a loaded library answers for. None where ``obj`` is not such a file,
    has not exactly one symbol table, or does not hold what its headers point to (numba's loader
    then runs, and meets what is wrong itself). numba lists a library's symbols from its bitcode,
    which also names its private constants; nothing looks those up by name."""
    if obj[:6] != b"\x7fELF\x02\x01":
        return None
    try:
        offset, count = int.from_bytes(obj[0x28:0x30], "little"), int.from_bytes(obj[0x3C:0x3E], "little")
        sections = np.frombuffer(obj, _SECTION, count=count, offset=offset)
        tables = np.flatnonzero(sections["type"] == _SYMTAB)
        if tables.size != 1:
            return None
        table, strings = sections[tables[0]], sections[sections[tables[0]]["link"]]
        symbols = np.frombuffer(
            obj, _SYMBOL, count=int(table["size"]) // _SYMBOL.itemsize, offset=int(table["offset"])
        )
        binding = symbols["info"] >> 4
        kept = symbols["name"][((binding == _GLOBAL) | (binding == _WEAK)) & (symbols["section"] != 0)]
        base, end = int(strings["offset"]), int(strings["offset"]) + int(strings["size"])
        return {obj[base + n : obj.index(b"\0", base + n, end)].decode("ascii") for n in kept.tolist()}
    except (ValueError, IndexError):  # past the end, a name without its end, not ASCII
        return None
